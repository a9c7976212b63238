// Figures from raw timings: percentiles and sustained rates. Pure, so the harness's
// arithmetic can be checked without a test bed.

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of a sample (ms); undefined for an empty one. */
export function percentiles(values: readonly number[]): Percentiles | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1]! };
}

/**
 * Tasks per second between the 10th and the 90th percentile of completion times: ramp-up
 * and the tail are left out, so runs of different sizes compare. Falls back to the whole
 * span for fewer than 10 completions.
 */
export function sustainedRate(completions: readonly number[]): number | undefined {
  if (completions.length < 2) return undefined;
  const s = [...completions].sort((a, b) => a - b);
  if (s.length < 10) {
    const span = s[s.length - 1]! - s[0]!;
    return span > 0 ? ((s.length - 1) / span) * 1000 : undefined;
  }
  const lo = Math.floor(s.length * 0.1);
  const hi = Math.ceil(s.length * 0.9) - 1;
  const span = s[hi]! - s[lo]!;
  return span > 0 ? ((hi - lo) / span) * 1000 : undefined;
}

export function round(x: number | undefined, digits = 2): number | undefined {
  if (x === undefined || !Number.isFinite(x)) return undefined;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
