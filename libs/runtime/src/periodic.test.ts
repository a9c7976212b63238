import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { every, intervalBackoff, nextRunDelay } from './periodic.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A promise the test resolves: a run that takes as long as the test says. */
function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { opened, open };
}

const noErrors = (err: unknown) => {
  throw new Error(`unexpected run error: ${String(err)}`);
};

describe('nextRunDelay', () => {
  it('waits the interval after a good run, and backs off after failed ones, never below what the failure asks', () => {
    const backoff = { firstMs: 2_000, maxMs: 30_000, jitter: 0 };
    expect(nextRunDelay(1_000, 0, backoff)).toBe(1_000);
    expect([1, 2, 3, 4, 5, 6].map((n) => nextRunDelay(1_000, n, backoff))).toEqual([
      2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(nextRunDelay(1_000, 1, backoff, 10_000)).toBe(10_000);
    expect(nextRunDelay(1_000, 500, backoff)).toBe(30_000);
  });

  it('backs off from the interval by default, never below it', () => {
    expect(intervalBackoff(5_000)).toEqual({ firstMs: 5_000, maxMs: 30_000, jitter: 0 });
    expect(intervalBackoff(60_000)).toEqual({ firstMs: 60_000, maxMs: 60_000, jitter: 0 });
  });
});

describe('every', () => {
  it('runs at once, then an interval after each run ends', async () => {
    const starts: number[] = [];
    const loop = every(
      1_000,
      async () => {
        starts.push(Date.now());
        await new Promise((r) => setTimeout(r, 300)); // the run itself takes 300 ms
      },
      { onError: noErrors },
    );
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(3_000);
    await loop.stop();
    expect(starts.map((t) => t - t0)).toEqual([0, 1_300, 2_600]);
  });

  it('waits firstDelayMs before the first run', async () => {
    let runs = 0;
    const loop = every(
      1_000,
      async () => {
        runs++;
      },
      { onError: noErrors, firstDelayMs: 1_000 },
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(1);
    await loop.stop();
  });

  it('never overlaps runs, however long one takes', async () => {
    let inRun = 0;
    let most = 0;
    const slow = gate();
    let runs = 0;
    const loop = every(
      10,
      async () => {
        runs++;
        inRun++;
        most = Math.max(most, inRun);
        if (runs === 1) await slow.opened;
        inRun--;
      },
      { onError: noErrors },
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
    slow.open();
    await vi.advanceTimersByTimeAsync(35);
    await loop.stop();
    expect(runs).toBe(4);
    expect(most).toBe(1);
  });

  it('backs off after runs that throw, reports each, and is back on the interval after a good run', async () => {
    const starts: number[] = [];
    const errors: { message: string; failures: number; retryInMs: number }[] = [];
    const loop = every(
      1_000,
      async () => {
        starts.push(Date.now());
        if (starts.length <= 3) throw new Error(`boom ${starts.length}`);
      },
      {
        onError: (err, next) => errors.push({ message: (err as Error).message, ...next }),
        backoff: { firstMs: 2_000, maxMs: 5_000, jitter: 0 },
      },
    );
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(13_000);
    await loop.stop();
    // 0: fails, +2 s: fails, +4 s: fails, +5 s (the cap): works, then every second.
    expect(starts.map((t) => t - t0)).toEqual([0, 2_000, 6_000, 11_000, 12_000, 13_000]);
    expect(errors).toEqual([
      { message: 'boom 1', failures: 1, retryInMs: 2_000 },
      { message: 'boom 2', failures: 2, retryInMs: 4_000 },
      { message: 'boom 3', failures: 3, retryInMs: 5_000 },
    ]);
  });

  it('backs off after runs that say they failed, at least as long as they ask', async () => {
    const starts: number[] = [];
    const loop = every(
      1_000,
      async () => {
        starts.push(Date.now());
        if (starts.length === 1) return { failed: true, waitAtLeastMs: 7_000 };
        if (starts.length === 2) return { failed: true };
        return undefined;
      },
      { onError: noErrors, backoff: { firstMs: 2_000, maxMs: 30_000, jitter: 0 } },
    );
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(12_000);
    await loop.stop();
    // 0: failed (asks 7 s), 7 s: failed again (second backoff step, 4 s), 11 s: works, 12 s.
    expect(starts.map((t) => t - t0)).toEqual([0, 7_000, 11_000, 12_000]);
  });

  it('runs no more once stopped: the pending timer is cleared', async () => {
    let runs = 0;
    const loop = every(
      1_000,
      async () => {
        runs++;
      },
      { onError: noErrors },
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(1);
    await loop.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() aborts the run in progress, waits for it, and then schedules nothing', async () => {
    const slow = gate();
    let aborted = false;
    let ended = false;
    let runs = 0;
    const errors: unknown[] = [];
    const loop = every(
      1_000,
      async (signal) => {
        runs++;
        signal.addEventListener('abort', () => {
          aborted = true;
        });
        await slow.opened;
        ended = true;
        throw new Error('cut short');
      },
      { onError: (err) => errors.push(err) },
    );
    await vi.advanceTimersByTimeAsync(0);
    const stopped = loop.stop();
    let stopResolved = false;
    void stopped.then(() => {
      stopResolved = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(aborted).toBe(true);
    expect(stopResolved).toBe(false);
    slow.open();
    await stopped;
    expect(ended).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(1);
    expect(errors).toEqual([]); // a run stopped on purpose is not an error
    expect(loop.stop()).toBe(stopped);
  });
});
