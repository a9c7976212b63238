import { LongshoreConfig, parseConfig } from '@longshore/config';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, nextDelay, stepDelay } from './backoff.ts';

describe('DEFAULT_BACKOFF', () => {
  it("has the config's idle waits (agent.idleWait), which main.ts passes in their place", () => {
    const cfg = parseConfig({ schema: LongshoreConfig, text: '', source: 'empty', env: {} });
    expect({ idleMinMs: DEFAULT_BACKOFF.idleMinMs, idleMaxMs: DEFAULT_BACKOFF.idleMaxMs }).toEqual({
      idleMinMs: cfg.agent.idleWait.first,
      idleMaxMs: cfg.agent.idleWait.max,
    });
  });
});

describe('nextDelay', () => {
  it('grows while the queue stays empty, up to the idle cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => nextDelay('idle', n, DEFAULT_BACKOFF))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });
  it('asks an idle class at most once a second: 60 requests a minute at the cap, jitter or not', () => {
    const waits = Array.from({ length: 80 }, (_, i) =>
      nextDelay('idle', i + 1, DEFAULT_BACKOFF, undefined, 1),
    );
    // The first minute of an idle class: the growing waits, then one a second.
    let t = 0;
    let n = 0;
    for (const w of waits) {
      if (t >= 60_000) break;
      t += w;
      n++;
    }
    expect(waits.slice(4).every((w) => w === 1000)).toBe(true);
    expect(n).toBeLessThanOrEqual(64);
  });
  it('doubles after errors up to the error cap', () => {
    expect(nextDelay('error', 1, DEFAULT_BACKOFF)).toBe(1000);
    expect(nextDelay('error', 20, DEFAULT_BACKOFF)).toBe(60_000);
  });
  it('waits long after a refused token: from seconds to minutes, capped', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => nextDelay('refused', n, DEFAULT_BACKOFF))).toEqual([
      15_000, 30_000, 60_000, 120_000, 240_000, 300_000, 300_000,
    ]);
  });
  it('honours a longer Retry-After, never a shorter one', () => {
    expect(nextDelay('error', 1, DEFAULT_BACKOFF, 30_000)).toBe(30_000);
    expect(nextDelay('error', 3, DEFAULT_BACKOFF, 10)).toBe(4000);
  });
  it('jitters downwards only, by at most a fifth, and never at the cap', () => {
    expect(nextDelay('idle', 1, DEFAULT_BACKOFF, undefined, 1)).toBe(80);
    expect(nextDelay('error', 2, DEFAULT_BACKOFF, undefined, 1)).toBe(1600);
    expect(nextDelay('idle', 9, DEFAULT_BACKOFF, undefined, 1)).toBe(1000);
  });
});

describe('stepDelay', () => {
  it('doubles up to the cap, and ends once the tries are spent', () => {
    const budget = { tries: 6, firstDelayMs: 500, maxDelayMs: 4_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => stepDelay(n, budget))).toEqual([
      500,
      1000,
      2000,
      4000,
      4000,
      undefined,
      undefined,
    ]);
  });

  it('gives a budget of one try no second one', () => {
    expect(stepDelay(1, { tries: 1, firstDelayMs: 10, maxDelayMs: 10 })).toBeUndefined();
  });
});
