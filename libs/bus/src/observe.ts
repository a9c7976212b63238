// The bus's ports for logging and metrics. Both are passed in (no global registry); the
// shapes are small so a pino logger and a prom-client adapter fit them directly.
import { subjectDefOf } from '@longshore/contracts';
import type { RejectReason } from './codec.ts';

/** A pino-style logger: structured fields first, then the message. */
export interface BusLogger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** What a consumer did with a delivered message. */
export type HandledOutcome = 'ack' | 'nak' | 'term' | 'error' | 'skipped';

/** How a publish ended: `ok` once sent (for a durable subject: stored, or dropped as a duplicate). */
export type PublishOutcome = 'ok' | 'error';

/**
 * Hooks the bus calls; every one is optional. `subject` is the full subject as on the wire
 * (`<prefix>.task.claimed`), or `kv.<prefix>_<bucket>.<key>` for a KV value: it may name a
 * task, so turn it into a metric label with busSubjectLabel.
 */
export interface BusMetrics {
  /** A received message was dropped: not JSON, wrong shape, or a subject we do not know. */
  rejected?(subject: string, reason: RejectReason): void;
  /** A durable consumer finished with a message (`skipped` = not one of its subjects). */
  handled?(subject: string, outcome: HandledOutcome, durationMs: number): void;
  /**
   * A publish ended: sent (a core broadcast), stored or found a duplicate (durable), or
   * failed, validation included. The duration runs to the stream's acknowledgement.
   */
  published?(subject: string, outcome: PublishOutcome, durationMs: number): void;
}

/**
 * A subject the hooks report as a bounded label: the registered name without the prefix
 * (`task.claimed`), `kv.<bucket>` for a KV value (the key would be a task id), and `other`
 * for anything else, since anyone may publish any subject under the prefix.
 */
export function busSubjectLabel(prefix: string, subject: string): string {
  const def = subjectDefOf(prefix, subject);
  if (def !== undefined) return def.name;
  // kv.ts names a KV value `kv.<prefix>_<bucket>.<key>`; bucket names have no dots.
  const kv = `kv.${prefix}_`;
  if (subject.startsWith(kv)) {
    const bucket = subject.slice(kv.length).split('.', 1)[0];
    if (bucket) return `kv.${bucket}`;
  }
  return 'other';
}

/** Used when no logger is passed: warnings and errors as JSON lines on stderr, nothing else. */
export function stderrLogger(): BusLogger {
  const line = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    process.stderr.write(`${JSON.stringify({ level, msg, ...fields })}\n`);
  };
  const quiet = () => {};
  return { debug: quiet, info: quiet, warn: line('warn'), error: line('error') };
}

/** An error as log fields: name, message and the chain of causes, never a stack of payloads. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { err: String(err) };
  const out: Record<string, unknown> = { err: `${err.name}: ${err.message}` };
  if (err.cause !== undefined) out.cause = errorFields(err.cause).err;
  return out;
}
