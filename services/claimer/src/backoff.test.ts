import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, nextDelay } from './backoff.ts';

describe('nextDelay', () => {
  it('grows while the queue stays empty, up to the idle cap', () => {
    expect([1, 2, 3, 4, 5].map((n) => nextDelay('idle', n, DEFAULT_BACKOFF))).toEqual([
      1000, 2000, 4000, 5000, 5000,
    ]);
  });
  it('doubles after errors up to the error cap', () => {
    expect(nextDelay('error', 1, DEFAULT_BACKOFF)).toBe(1000);
    expect(nextDelay('error', 20, DEFAULT_BACKOFF)).toBe(60_000);
  });
  it('honours a longer Retry-After, never a shorter one', () => {
    expect(nextDelay('error', 1, DEFAULT_BACKOFF, 30_000)).toBe(30_000);
    expect(nextDelay('error', 3, DEFAULT_BACKOFF, 10)).toBe(4000);
  });
  it('jitters downwards only, by at most a fifth', () => {
    expect(nextDelay('idle', 1, DEFAULT_BACKOFF, undefined, 1)).toBe(800);
  });
});
