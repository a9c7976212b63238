// Waiting out a dependency that is not there yet (NATS, Redis, the apiserver): a start-up
// step is tried until it works, with a growing, jittered pause between tries and one log
// line per failed try naming what is awaited and why. A service that waits stays alive and
// not ready; one that exited would be restarted by Kubernetes with a backoff of its own
// (CrashLoopBackOff) that can outlast the outage by minutes.
import { setTimeout as sleep } from 'node:timers/promises';

export interface Backoff {
  /** The pause after the first failed try. */
  readonly firstMs: number;
  /** The pause doubles up to this. */
  readonly maxMs: number;
  /** Up to this share of each pause (0..1) is taken off at random, so replicas do not retry in step. */
  readonly jitter: number;
}

/** For start-up steps: 1 s doubling to 30 s. */
export const START_BACKOFF: Backoff = { firstMs: 1_000, maxMs: 30_000, jitter: 0.2 };

/** The pause after the `failed`-th failed try in a row (1 = the first). */
export function backoffDelay(failed: number, policy: Backoff, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.firstMs * 2 ** Math.max(0, failed - 1));
  return Math.round(base * (1 - policy.jitter * random()));
}

/** "4.0 s": how a pause reads in a log line. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The message of an error's innermost cause: `connect ECONNREFUSED 127.0.0.1:4222` rather
 * than the wrappers around it, whose words the caller's `what` already says.
 */
export function innermostMessage(err: unknown): string {
  let e = err;
  for (let depth = 0; depth < 10 && e instanceof Error && e.cause !== undefined; depth++) e = e.cause;
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

/** Hides credentials in URLs such as nats://user:pass@host or redis://:pass@host. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** The logging a wait needs; a @longshore/logging Logger fits. */
export interface WaitLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RetryOptions {
  readonly logger: WaitLogger;
  /** Shutdown: the pause ends at once and the retry rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** An error that waiting cannot cure (a configuration problem): thrown at once. */
  readonly isFatal?: ((err: unknown) => boolean) | undefined;
  /** The failure in a few words for the log line; default: innermostMessage. */
  readonly describe?: ((err: unknown) => string) | undefined;
  readonly backoff?: Backoff | undefined;
}

/**
 * Runs `step` until it resolves, logging `waiting for <what>: <reason>; retrying in 4.0 s`
 * after each failure, and `<what> is available` once it works after having failed.
 */
export async function retryUntilAvailable<T>(
  what: string,
  step: () => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  const { logger, signal } = opts;
  const backoff = opts.backoff ?? START_BACKOFF;
  const describe = opts.describe ?? innermostMessage;
  for (let failed = 0; ; ) {
    signal?.throwIfAborted();
    try {
      const value = await step();
      if (failed > 0) logger.info({ waiting_for: what, tries: failed + 1 }, `${what} is available`);
      return value;
    } catch (err) {
      // A step that failed because shutdown closed its client is not worth a warning.
      signal?.throwIfAborted();
      if (opts.isFatal?.(err)) throw err;
      failed++;
      const ms = backoffDelay(failed, backoff);
      const reason = describe(err);
      logger.warn(
        { waiting_for: what, tries: failed, retry_in_ms: ms, reason },
        `waiting for ${what}: ${reason}; retrying in ${seconds(ms)}`,
      );
      await pause(ms, signal);
    }
  }
}

/** Sleeps `ms`; an abort ends it early by rejecting with the signal's own reason. */
export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
}
