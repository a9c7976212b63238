// Work that repeats on a timer (a scaling cycle, a sweep, a check): one helper, so that every
// such loop stops the same way and backs off the same way. A run starts only after the
// previous one has ended (a slow run delays the next instead of piling runs up), stop()
// clears the pending timer and waits for a run in progress, and a failed run is followed by
// a growing pause (the Backoff of retry.ts) instead of hammering what just failed.
import { type Backoff, backoffDelay } from './retry.ts';

/**
 * What a run says of itself: nothing when it did its work; `failed` when it did not but has
 * already said why (logged, counted), with the least pause the failure asks for (e.g. a
 * server's Retry-After). A run that throws has failed too, and its error goes to onError.
 */
export interface RunOutcome {
  readonly failed: true;
  readonly waitAtLeastMs?: number | undefined;
}

export interface EveryOptions {
  /** A run threw: say so (the loop carries on after `retryInMs`). */
  readonly onError: (err: unknown, next: { readonly failures: number; readonly retryInMs: number }) => void;
  /** Pauses after failed runs in a row. Default: doubling from the interval up to 30 s (or the interval, if longer). */
  readonly backoff?: Backoff | undefined;
  /** Pause before the first run. Default 0: it starts at once (from a timer, not within the call). */
  readonly firstDelayMs?: number | undefined;
}

export interface Periodic {
  /** Cancels the next run, aborts the run's signal and waits for a run in progress. Idempotent. */
  stop(): Promise<void>;
}

/** The pause before the next run: the interval after a good run, the backoff after `failures` failed ones in a row. */
export function nextRunDelay(
  intervalMs: number,
  failures: number,
  backoff: Backoff,
  waitAtLeastMs = 0,
): number {
  if (failures === 0) return intervalMs;
  return Math.max(backoffDelay(failures, backoff), waitAtLeastMs);
}

/** The backoff of a loop that names none: from its interval, doubling up to 30 s or the interval. */
export function intervalBackoff(intervalMs: number, maxMs = 30_000): Backoff {
  return { firstMs: intervalMs, maxMs: Math.max(intervalMs, maxMs), jitter: 0 };
}

/** Runs `run` every `intervalMs` (measured from the end of the last run) until stop(). */
export function every(
  intervalMs: number,
  run: (signal: AbortSignal) => Promise<RunOutcome | undefined>,
  opts: EveryOptions,
): Periodic {
  const backoff = opts.backoff ?? intervalBackoff(intervalMs);
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let failures = 0;

  const schedule = (ms: number) => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = once().finally(() => {
        running = undefined;
      });
    }, ms);
  };
  const once = async () => {
    let outcome: RunOutcome | undefined;
    try {
      outcome = await run(stopping.signal);
    } catch (err) {
      // A run cut short by stop() has nothing to report.
      if (stopping.signal.aborted) return;
      failures++;
      const retryInMs = nextRunDelay(intervalMs, failures, backoff);
      schedule(retryInMs);
      opts.onError(err, { failures, retryInMs });
      return;
    }
    failures = outcome?.failed ? failures + 1 : 0;
    schedule(nextRunDelay(intervalMs, failures, backoff, outcome?.waitAtLeastMs));
  };

  schedule(opts.firstDelayMs ?? 0);
  let stopped: Promise<void> | undefined;
  return {
    stop: () => {
      stopped ??= (async () => {
        stopping.abort(new DOMException('stopped', 'AbortError'));
        clearTimeout(timer);
        await running;
      })();
      return stopped;
    },
  };
}
