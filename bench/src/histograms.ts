// The services' own stage histograms (what a fleet owner's Prometheus sees) set against the
// bench's outside measurements of the same stages in the same run: the histograms' counts
// over the phase (after minus before, all classes summed, as `sum by (le)` does), their p50
// and p99 interpolated within buckets, and whether each lands within one bucket of the
// bench's own figure. Pure.
import { TASK_STAGE_BUCKETS, type TaskStage } from '@longshore/runtime';
import { bucketIndex, histogramQuantile, type StageFigures } from '@longshore/runtime/stages';
import type { Percentiles } from './stats.ts';

/** The bench's stage (from -> to in its STAGES) that each histogram stage measures. */
export const BENCH_STAGE_OF: Record<TaskStage, string> = {
  config_fetched: 'claimed->configFetched',
  pod_created: 'configFetched->scheduled',
  running: 'scheduled->running',
  ended: 'running->ended',
  cleaned_up: 'ended->cleaned',
  end_to_end: 'claimed->cleaned',
};

export interface StageAgreement {
  stage: TaskStage;
  /** Observations in the phase. */
  count: number;
  /** From the histograms, ms. */
  p50: number;
  p99: number;
  /** The bench's own, ms. */
  benchP50: number | undefined;
  benchP99: number | undefined;
  /** p50 and p99 each fall in the bench's bucket or the one next to it. */
  withinOneBucket: boolean;
}

/** Per stage, the buckets of every class summed, after minus before. */
export function phaseBuckets(
  before: readonly StageFigures[],
  after: readonly StageFigures[],
): Map<TaskStage, [number, number][]> {
  const sum = (rows: readonly StageFigures[]) => {
    const out = new Map<TaskStage, Map<number, number>>();
    for (const r of rows) {
      const m = out.get(r.stage) ?? new Map<number, number>();
      for (const [le, c] of r.buckets) m.set(le, (m.get(le) ?? 0) + c);
      out.set(r.stage, m);
    }
    return out;
  };
  const [b, a] = [sum(before), sum(after)];
  const out = new Map<TaskStage, [number, number][]>();
  for (const [stage, buckets] of a) {
    const prev = b.get(stage);
    out.set(
      stage,
      [...buckets.entries()].sort((x, y) => x[0] - y[0]).map(([le, c]) => [le, c - (prev?.get(le) ?? 0)]),
    );
  }
  return out;
}

export function compareStages(
  buckets: ReadonlyMap<TaskStage, [number, number][]>,
  bench: Record<string, Percentiles | undefined>,
): StageAgreement[] {
  const bounds = [...TASK_STAGE_BUCKETS];
  const near = (ms: number | undefined, s: number) =>
    ms !== undefined && Math.abs(bucketIndex(ms / 1000, bounds) - bucketIndex(s, bounds)) <= 1;
  const out: StageAgreement[] = [];
  for (const [stage, key] of Object.entries(BENCH_STAGE_OF) as [TaskStage, string][]) {
    const b = buckets.get(stage);
    if (!b) continue;
    const p50 = histogramQuantile(0.5, b);
    const p99 = histogramQuantile(0.99, b);
    const own = bench[key];
    out.push({
      stage,
      count: b.at(-1)?.[1] ?? 0,
      p50: p50 * 1000,
      p99: p99 * 1000,
      benchP50: own?.p50,
      benchP99: own?.p99,
      withinOneBucket: near(own?.p50, p50) && near(own?.p99, p99),
    });
  }
  return out;
}
