import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { debounce } from './debounce.ts';

describe('debounce', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs once after a quiet period', () => {
    const run = vi.fn();
    const d = debounce(run, 2_000);
    d.trigger();
    vi.advanceTimersByTime(1_500);
    d.trigger();
    vi.advanceTimersByTime(1_500);
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(500);
    expect(run).toHaveBeenCalledTimes(1);
    expect(d.pending).toBe(false);
  });

  it('runs no later than maxWait after the first change of a burst', () => {
    const run = vi.fn();
    const d = debounce(run, 1_000, 3_000);
    for (let i = 0; i < 10; i++) {
      d.trigger();
      vi.advanceTimersByTime(500);
    }
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('cancel drops a pending run', () => {
    const run = vi.fn();
    const d = debounce(run, 1_000);
    d.trigger();
    d.cancel();
    vi.advanceTimersByTime(5_000);
    expect(run).not.toHaveBeenCalled();
  });
});
