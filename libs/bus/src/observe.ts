// The bus's ports for logging and metrics. Both are passed in (no global registry); the
// shapes are small so a pino logger and a prom-client adapter fit them directly.
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

/** Hooks the bus calls; every one is optional. */
export interface BusMetrics {
  /** A received message was dropped: not JSON, wrong shape, or a subject we do not know. */
  rejected?(subject: string, reason: RejectReason): void;
  /** A durable consumer finished with a message (`skipped` = not one of its subjects). */
  handled?(subject: string, outcome: HandledOutcome, durationMs: number): void;
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
