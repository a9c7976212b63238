// The two ways tests and the test bed wait for the world to catch up, written once: poll a
// probe until it yields a value (`waitFor`), or retry an assertion until it passes
// (`eventually`). Both give up after a bounded time, never on a timing threshold of their own.
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, TestbedError } from './processes.ts';

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Pause between probes; default 100 ms. */
  readonly intervalMs?: number;
  /** A process the wait is for: its exit ends the wait at once. */
  readonly pid?: number;
  /** Where that process logs, named in the error. */
  readonly logFile?: string;
  /** More to say when the wait fails, e.g. the last log lines of the processes involved. */
  readonly detail?: () => string;
}

/**
 * Polls `probe` until it returns something other than undefined or false, and returns that.
 * A probe that throws is tried again (a server that is starting refuses connections); the
 * last error becomes the cause of the timeout.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const where = opts.logFile ? `; see ${opts.logFile}` : '';
  const detail = () => (opts.detail ? `\n${opts.detail()}` : '');
  let lastError: unknown;
  for (;;) {
    if (opts.pid !== undefined && !isAlive(opts.pid)) {
      throw new TestbedError(`${what} exited during start-up${where}${detail()}`);
    }
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new TestbedError(`timed out after ${opts.timeoutMs} ms waiting for ${what}${where}${detail()}`, {
        cause: lastError,
      });
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/**
 * Runs `check` until it stops throwing and returns its value; after `timeoutMs` the last
 * error is thrown as it was (an assertion's own message and diff).
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}
