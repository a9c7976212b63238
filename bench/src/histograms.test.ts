import type { StageFigures } from '@longshore/runtime/stages';
import { describe, expect, it } from 'vitest';
import { compareStages, phaseBuckets } from './histograms.ts';

const INF = Number.POSITIVE_INFINITY;
const fig = (rc: string, stage: StageFigures['stage'], buckets: [number, number][]): StageFigures => ({
  resourceClass: rc,
  stage,
  count: buckets.at(-1)![1],
  p50: Number.NaN,
  p99: Number.NaN,
  buckets,
});

describe('phaseBuckets', () => {
  it('sums the classes and takes away what was counted before the phase', () => {
    const before = [
      fig('a', 'running', [
        [0.25, 5],
        [0.5, 5],
        [INF, 5],
      ]),
    ];
    const after = [
      fig('a', 'running', [
        [0.25, 5],
        [0.5, 15],
        [INF, 15],
      ]),
      fig('b', 'running', [
        [0.25, 0],
        [0.5, 10],
        [INF, 10],
      ]),
    ];
    expect(phaseBuckets(before, after).get('running')).toEqual([
      [0.25, 0],
      [0.5, 20],
      [INF, 20],
    ]);
  });
});

describe('compareStages', () => {
  it("sets each stage's p50/p99 beside the bench's own and says whether they are within one bucket", () => {
    const buckets = new Map([
      [
        'running',
        [
          [0.1, 0],
          [0.25, 0],
          [0.5, 100],
          [INF, 100],
        ],
      ],
    ] as const);
    const near = compareStages(buckets as never, {
      'scheduled->running': { n: 100, p50: 230, p90: 280, p99: 310, max: 330 },
    });
    expect(near).toEqual([
      expect.objectContaining({
        stage: 'running',
        count: 100,
        benchP50: 230,
        benchP99: 310,
        withinOneBucket: true,
      }),
    ]);
    expect(near[0]!.p50).toBeCloseTo(375);
    const far = compareStages(buckets as never, {
      'scheduled->running': { n: 100, p50: 20, p90: 30, p99: 40, max: 50 },
    });
    expect(far[0]!.withinOneBucket).toBe(false);
  });
});
