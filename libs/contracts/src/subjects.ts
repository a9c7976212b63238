// Every bus subject is spelled here and only here, each with the zod schema of its payload.
// Subjects live under a prefix (default "longshore") so that tests and tenants can share
// one NATS server without seeing each other's traffic.
import type { z } from 'zod';
import {
  ClaimDropped,
  ConstraintStatus,
  GcSweepReport,
  LedgerRebuilt,
  ScalerDecision,
  TaskClaimed,
  TaskEnded,
  TaskLifecycle,
  TaskReleased,
} from './events.ts';

/**
 * N is the literal subject name, so that a consumer of several subjects gets a union of
 * events it can narrow on `name`.
 */
export interface SubjectDef<S extends z.ZodType = z.ZodType, N extends string = string> {
  /** Subject relative to the prefix, e.g. "task.claimed". */
  readonly name: N;
  readonly schema: S;
  /** Carried by the durable event stream (JetStream), or a core-NATS broadcast. */
  readonly durable: boolean;
}

function def<const N extends string, S extends z.ZodType>(
  name: N,
  schema: S,
  durable: boolean,
): SubjectDef<S, N> {
  return { name, schema, durable };
}

export const Subjects = {
  taskClaimed: def('task.claimed', TaskClaimed, true),
  taskReleased: def('task.released', TaskReleased, true),
  taskScheduled: def('task.scheduled', TaskLifecycle, true),
  taskRunning: def('task.running', TaskLifecycle, true),
  /** Container 0 (the orchestrator) exited 0: the task's end was reported from inside its pod. */
  taskReported: def('task.reported', TaskEnded, true),
  taskFailed: def('task.failed', TaskEnded, true),
  taskInterrupted: def('task.interrupted', TaskEnded, true),
  claimDropped: def('claim.dropped', ClaimDropped, true),
  ledgerRebuilt: def('ledger.rebuilt', LedgerRebuilt, true),
  gcSwept: def('gc.swept', GcSweepReport, true),
  scalerDecision: def('scaler.decision', ScalerDecision, true),
  constraintStatus: def('constraints.status', ConstraintStatus, true),
} as const;

export type SubjectName = keyof typeof Subjects;
/** Any one of the registered definitions, with its literal name. */
export type AnySubjectDef = (typeof Subjects)[SubjectName];
export type PayloadOf<D> = D extends SubjectDef<infer S> ? z.infer<S> : never;

const PREFIX_RE = /^[A-Za-z0-9_-]+$/;

/** Validates a subject prefix: one NATS token, no wildcards or dots. */
export function assertPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`bus prefix "${prefix}" must be one token of letters, digits, '_' or '-'`);
  }
  return prefix;
}

/** The full subject for a definition under a prefix. */
export function subjectFor(prefix: string, d: SubjectDef): string {
  return `${assertPrefix(prefix)}.${d.name}`;
}

/** The JetStream stream that keeps a prefix's events (for `longshore tap --since`). */
export function streamName(prefix: string): string {
  return `${assertPrefix(prefix).toUpperCase().replaceAll('-', '_')}_EVENTS`;
}

/** Finds the definition for a full subject under a prefix, if it is one of ours. */
export function subjectDefOf(prefix: string, subject: string): AnySubjectDef | undefined {
  const rel = subject.startsWith(`${prefix}.`) ? subject.slice(prefix.length + 1) : undefined;
  return Object.values(Subjects).find((d) => d.name === rel);
}
