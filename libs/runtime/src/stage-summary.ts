// The task stage histograms read back from the services' /metrics text, as a fleet owner's
// Prometheus would compute them (histogram_quantile's interpolation within a bucket): for
// the demo's closing summary and the bench, which prints them next to its own measurements.
// Pure: text in, figures out.
import type { TaskStage } from './metrics.ts';

/** The order a task goes through them; end_to_end last. */
export const STAGE_ORDER: readonly TaskStage[] = [
  'config_fetched',
  'pod_created',
  'running',
  'ended',
  'cleaned_up',
  'end_to_end',
];

export interface StageFigures {
  resourceClass: string;
  stage: TaskStage;
  count: number;
  /** Seconds; NaN when nothing was observed. */
  p50: number;
  p99: number;
  /** The cumulative buckets: [upper bound, count]; the last is +Inf. */
  buckets: [number, number][];
}

const STAGE_HISTOGRAM = /^longshore_[a-z_]+_task_stage_seconds_bucket$/;
const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** One sample line of a /metrics text: its metric name, labels and value. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * The samples of a Prometheus text exposition (comments skipped; a line that is not a
 * sample, or whose value is not a number, is left out). Label values are taken as written,
 * escapes and all: ours hold class names, stages and outcomes, never a quote.
 */
export function metricSamples(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const raw = m[3]!;
    const value =
      raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1]!, l[2]!]));
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Every task stage histogram in these /metrics texts (claimer and scheduler), by class and stage. */
export function stageFigures(texts: readonly string[]): StageFigures[] {
  const byKey = new Map<string, { rc: string; stage: TaskStage; buckets: Map<number, number> }>();
  for (const text of texts) {
    for (const { name, labels, value } of metricSamples(text)) {
      if (!STAGE_HISTOGRAM.test(name)) continue;
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
      const stage = labels.stage as TaskStage | undefined;
      const rc = labels.resource_class;
      if (stage === undefined || rc === undefined || Number.isNaN(le)) continue;
      const key = `${rc}\u0000${stage}`;
      const entry = byKey.get(key) ?? { rc, stage, buckets: new Map<number, number>() };
      // Replicas of one service: their counts add up, as sum by (le) does.
      entry.buckets.set(le, (entry.buckets.get(le) ?? 0) + value);
      byKey.set(key, entry);
    }
  }
  const out: StageFigures[] = [];
  for (const { rc, stage, buckets } of byKey.values()) {
    const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
    const count = sorted.at(-1)?.[1] ?? 0;
    out.push({
      resourceClass: rc,
      stage,
      count,
      p50: histogramQuantile(0.5, sorted),
      p99: histogramQuantile(0.99, sorted),
      buckets: sorted,
    });
  }
  return out.sort(
    (a, b) =>
      a.resourceClass.localeCompare(b.resourceClass) ||
      STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage),
  );
}

/**
 * Prometheus's histogram_quantile over cumulative buckets sorted by bound (the last +Inf):
 * the bucket the rank falls in, interpolated linearly within it; a rank in +Inf is the
 * highest finite bound. NaN for an empty histogram.
 */
export function histogramQuantile(q: number, buckets: readonly (readonly [number, number])[]): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0 || buckets.length < 2) return Number.NaN;
  const rank = q * total;
  let i = buckets.findIndex(([, c]) => c >= rank);
  if (i === -1) i = buckets.length - 1;
  if (buckets[i]![0] === Number.POSITIVE_INFINITY) return buckets[buckets.length - 2]![0];
  const [end, count] = buckets[i]!;
  const [start, before] = i === 0 ? [0, 0] : buckets[i - 1]!;
  if (count === before) return end;
  return start + (end - start) * ((rank - before) / (count - before));
}

/** The bucket a value falls in (index of the first bound >= it). */
export function bucketIndex(seconds: number, bounds: readonly number[]): number {
  const i = bounds.findIndex((b) => seconds <= b);
  return i === -1 ? bounds.length : i;
}

/** A text table: one row per class and stage with its count, p50 and p99. */
export function formatStageFigures(rows: readonly StageFigures[]): string[] {
  const ms = (s: number) =>
    Number.isNaN(s) ? '-' : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
  const lines = [
    `  ${'class'.padEnd(16)} ${'stage'.padEnd(15)} ${'n'.padStart(4)} ${'p50'.padStart(9)} ${'p99'.padStart(9)}`,
  ];
  for (const r of rows)
    lines.push(
      `  ${r.resourceClass.padEnd(16)} ${r.stage.padEnd(15)} ${String(r.count).padStart(4)} ${ms(r.p50).padStart(9)} ${ms(r.p99).padStart(9)}`,
    );
  return lines;
}
