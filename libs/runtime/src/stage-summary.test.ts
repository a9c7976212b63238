import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { taskStageHistogram } from './metrics.ts';
import {
  bucketIndex,
  formatStageFigures,
  histogramQuantile,
  metricSamples,
  stageFigures,
} from './stage-summary.ts';

describe('metricSamples', () => {
  it('reads names, labels and values, and skips comments and lines that are not samples', () => {
    const text = [
      '# HELP longshore_claimer_in_flight tasks held',
      '# TYPE longshore_claimer_in_flight gauge',
      'longshore_claimer_in_flight 3',
      'longshore_claimer_class_in_flight{resource_class="acme/small",x="a b"} 2',
      'longshore_x_bucket{le="+Inf"} +Inf',
      'not a sample',
      'longshore_bad{a="1"} many',
      '',
    ].join('\n');
    expect(metricSamples(text)).toEqual([
      { name: 'longshore_claimer_in_flight', labels: {}, value: 3 },
      {
        name: 'longshore_claimer_class_in_flight',
        labels: { resource_class: 'acme/small', x: 'a b' },
        value: 2,
      },
      { name: 'longshore_x_bucket', labels: { le: '+Inf' }, value: Number.POSITIVE_INFINITY },
    ]);
  });
});

describe('histogramQuantile', () => {
  it("interpolates within the bucket the rank falls in, as Prometheus's histogram_quantile does", () => {
    // 10 observations: 4 up to 0.1 s, 6 more up to 0.5 s.
    const b: [number, number][] = [
      [0.1, 4],
      [0.5, 10],
      [Number.POSITIVE_INFINITY, 10],
    ];
    expect(histogramQuantile(0.4, b)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.1 + 0.4 * (1 / 6));
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.1 + 0.4 * (5.9 / 6));
    expect(histogramQuantile(0.2, b)).toBeCloseTo(0.05); // the first bucket starts at 0
  });

  it('is the highest finite bound for a rank in +Inf, and NaN when empty', () => {
    expect(
      histogramQuantile(0.99, [
        [1, 1],
        [Number.POSITIVE_INFINITY, 10],
      ]),
    ).toBe(1);
    expect(
      histogramQuantile(0.5, [
        [1, 0],
        [Number.POSITIVE_INFINITY, 0],
      ]),
    ).toBeNaN();
  });
});

describe('stageFigures', () => {
  it('reads the stage histograms of several services (and replicas) back from their /metrics text', async () => {
    const claimer = new Registry();
    claimer.setDefaultLabels({ service: 'claimer' });
    const c = taskStageHistogram(claimer, 'claimer');
    const scheduler = [new Registry(), new Registry()];
    const s = scheduler.map((r) => taskStageHistogram(r, 'scheduler'));
    for (let i = 0; i < 10; i++) c.observe('config_fetched', 'acme/a', 0, 2); // 2 ms
    s[0]!.observe('running', 'acme/a', 0, 300);
    s[1]!.observe('running', 'acme/a', 0, 400);
    s[1]!.observe('running', 'acme/b', 0, 20_000);
    const rows = stageFigures([
      await claimer.metrics(),
      await scheduler[0]!.metrics(),
      await scheduler[1]!.metrics(),
    ]);
    expect(rows.map((r) => [r.resourceClass, r.stage, r.count])).toEqual([
      ['acme/a', 'config_fetched', 10],
      ['acme/a', 'running', 2],
      ['acme/b', 'running', 1],
    ]);
    expect(rows[0]!.p99).toBeLessThanOrEqual(0.005);
    expect(rows[1]!.p50).toBeGreaterThan(0.25);
    expect(rows[1]!.p50).toBeLessThanOrEqual(0.5);
    expect(rows[2]!.p99).toBeGreaterThan(10);
    expect(rows[2]!.p99).toBeLessThanOrEqual(30);
    const table = formatStageFigures(rows);
    expect(table[0]).toMatch(/class\s+stage\s+n\s+p50\s+p99/);
    expect(table[2]).toMatch(/acme\/a\s+running\s+2\s+\d+ ms\s+\d+ ms/);
  });
});

describe('bucketIndex', () => {
  it('is the first bound at or above a value, past the last for a larger one', () => {
    expect(bucketIndex(0.1, [0.1, 0.5])).toBe(0);
    expect(bucketIndex(0.2, [0.1, 0.5])).toBe(1);
    expect(bucketIndex(2, [0.1, 0.5])).toBe(2);
  });
});
