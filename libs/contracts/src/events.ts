// Payloads of the bus. None carries a secret: task tokens stay in Redis (see redis-keys.ts).
import { z } from 'zod';

const iso = z.iso.datetime();

/** Fields every task event carries, so `longshore tap` can build a per-task timeline. */
const TaskRef = z.object({
  task_id: z.string().min(1),
  resource_class: z.string().min(1),
  /** 1 for the first claim of a task, +1 for each reclaim after an unsafe retry. */
  attempt: z.number().int().positive(),
  /** Name of the runner instance (agent.name) that emitted the event. */
  runner: z.string().min(1),
  at: iso,
});

export const TaskClaimed = TaskRef.extend({
  allocation: z.string().min(1),
});
export type TaskClaimed = z.infer<typeof TaskClaimed>;

export const TaskLifecycle = TaskRef.extend({
  pod: z.string().min(1),
  namespace: z.string().min(1),
  node: z.string().optional(),
  /**
   * task.scheduled: what the pod could not give the job as its config asked (a service
   * container's user Kubernetes cannot run as, say), one sentence each; absent when none.
   */
  warnings: z.array(z.string()).optional(),
});
export type TaskLifecycle = z.infer<typeof TaskLifecycle>;

/**
 * Why a task ended, as far as a runner can tell from outside the pod. Container 0 runs
 * CircleCI's orchestrator (circleci/runner-init), whose exit code is not the job's result:
 * it exits 0 once the task's end was reported from inside the pod, whether the task agent
 * reported the job (passed or failed), or the orchestrator itself failed the task or gave
 * it back; and non-zero only when it could not report (its own calls to the Runner API
 * failed, it could not start, or it was killed). Nothing a runner can see (exit code, pod
 * phase, container state) tells those exit-0 endings apart, so `reported-in-pod` names only
 * what is known; `exit-code` is a non-zero exit, which the runner must report.
 */
export const EndReason = z.enum([
  'reported-in-pod',
  'exit-code',
  'image-pull',
  'unschedulable',
  'rejected',
  'deadline-exceeded',
  'evicted',
  'preempted',
  'node-lost',
  'deleted',
  'disruption',
  'agent-not-started',
  'cancelled',
  'lost',
]);
export type EndReason = z.infer<typeof EndReason>;

export const TaskEnded = TaskRef.extend({
  pod: z.string().optional(),
  namespace: z.string().optional(),
  reason: EndReason,
  /** Human-readable error, as the seeds log under `error`. */
  error: z.string().optional(),
  exit_code: z.number().int().optional(),
  /** Whether the task will be released for another attempt (the seeds' `app.to_retry`). */
  to_retry: z.boolean().default(false),
});
export type TaskEnded = z.infer<typeof TaskEnded>;

export const TaskReleased = TaskRef.extend({
  /** Why it was released: an interruption that will be retried, or a runner draining. */
  reason: z.string().min(1),
  retries_used: z.number().int().nonnegative(),
});
export type TaskReleased = z.infer<typeof TaskReleased>;

/**
 * A claim this runner let go of before its task ever reached the scheduler: the Runner API
 * answered something unusable (a malformed or over-limit task config, a claim for another
 * class, a task id another open claim holds), or a step kept failing past its retry budget.
 * `outcome` says what the Runner API was told: `failed` (a fail event with `error`), `released`
 * (unclaimed, so another runner may take it), `cancelled` (the API said it was cancelled),
 * `gone` (the API no longer knew the claim), or `unreported` (nothing could be told; the
 * claim is left to the API's own claim timeout).
 */
export const ClaimDropped = z.object({
  runner: z.string().min(1),
  resource_class: z.string().min(1),
  allocation: z.string().min(1),
  /** Absent when the task config could not be read (or its id was not a usable id). */
  task_id: z.string().min(1).optional(),
  at: iso,
  stage: z.enum(['claim', 'config', 'commit', 'announce', 'recovery']),
  outcome: z.enum(['failed', 'released', 'cancelled', 'gone', 'unreported']),
  error: z.string(),
});
export type ClaimDropped = z.infer<typeof ClaimDropped>;

/**
 * A claimer found that the ledger lost its data (the generation marker changed) and wrote
 * back the claims it holds in memory. Claims of runners that were down at the same time
 * cannot be rebuilt; docs/architecture.md says what becomes of them.
 */
export const LedgerRebuilt = z.object({
  runner: z.string().min(1),
  at: iso,
  /** When the generation now in Redis was started. */
  generation_since: iso,
  restored_claims: z.number().int().nonnegative(),
  restored_pending: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
});
export type LedgerRebuilt = z.infer<typeof LedgerRebuilt>;

export const GcSweepReport = z.object({
  runner: z.string().min(1),
  at: iso,
  duration_ms: z.number().nonnegative(),
  pods_deleted: z.number().int().nonnegative(),
  secrets_deleted: z.number().int().nonnegative(),
  claims_reannounced: z.number().int().nonnegative(),
  claims_interrupted: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
});
export type GcSweepReport = z.infer<typeof GcSweepReport>;

export const ScalerDecision = z.object({
  resource_class: z.string().min(1),
  pool: z.string().min(1),
  namespace: z.string().min(1),
  at: iso,
  unclaimed_tasks: z.number().int().nonnegative(),
  running_tasks: z.number().int().nonnegative(),
  desired_vms: z.number().int().nonnegative(),
  previous_vms: z.number().int().nonnegative().nullable(),
  scaled: z.boolean(),
});
export type ScalerDecision = z.infer<typeof ScalerDecision>;

export const ConstraintStatus = z.object({
  resource_class: z.string().min(1),
  at: iso,
  enabled: z.boolean(),
  consecutive_failures: z.number().int().nonnegative(),
  /** Why the last check failed, in words a person can act on; empty when it passed. */
  reason: z.string(),
});
export type ConstraintStatus = z.infer<typeof ConstraintStatus>;

/** NATS KV bucket (under the bus prefix) holding the latest ConstraintStatus per class. */
export const CONSTRAINTS_KV_BUCKET = 'constraints';

/** A class's key in the constraints bucket: its name with '/' replaced by '.'. */
export function constraintStatusKey(resourceClass: string): string {
  return resourceClass.replaceAll('/', '.');
}

/**
 * Whether the runner must report a task that ended this way (a fail event, or an unclaim
 * for an unsafe retry). Only an orchestrator that exited 0 has reported the task's end
 * itself; every other ending, a non-zero exit of container 0 included, is one the pod could
 * not report: it never started, its pod was refused or taken away, or the orchestrator
 * failed to reach the Runner API or was killed. A cancelled task needs no report.
 */
export function runnerMustReport(reason: EndReason): boolean {
  return reason !== 'reported-in-pod' && reason !== 'cancelled';
}
