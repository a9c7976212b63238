import { describe, expect, it } from 'vitest';
import { percentiles, sustainedRate } from './stats.ts';

describe('percentiles', () => {
  it('uses nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(v)).toEqual({ n: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([7])).toEqual({ n: 1, p50: 7, p90: 7, p99: 7, max: 7 });
    expect(percentiles([])).toBeUndefined();
  });
});

describe('sustainedRate', () => {
  it('counts completions between the 10th and 90th percentile', () => {
    // one completion every 100 ms: 10 per second, whatever the slow start and tail
    const t = Array.from({ length: 100 }, (_, i) => i * 100);
    t[0] = -5_000;
    t[99] = 60_000;
    expect(sustainedRate(t)).toBeCloseTo(10, 5);
  });
});
