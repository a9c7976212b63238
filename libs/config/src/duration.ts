// Go-style durations ("5h5m", "15m", "300ms"), because the seeds' Helm values are written
// for Go programs (time.ParseDuration) and must parse here unchanged. We compute in
// integer nanoseconds, like Go, so "1.1s" is exactly 1100 ms rather than a float near it.
import { z } from 'zod';
import { DOC_META_PREFIX } from './json-schema.ts';

/** A string that is not a Go duration. */
export class DurationError extends Error {
  override readonly name = 'DurationError';
  readonly input: string;

  constructor(input: string, reason: string) {
    super(`invalid duration ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
  }
}

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign, as Go prints it
  μs: 1_000n, // U+03BC Greek mu, which Go also accepts
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const UNITS_HINT = 'valid units are ns, us (or µs), ms, s, m, h';
const MAX_NS = 2n ** 63n - 1n; // Go's time.Duration is an int64

/**
 * Parses a Go duration (time.ParseDuration syntax) into milliseconds, possibly fractional
 * ("1.5us" is 0.0015). Strict like Go: every number needs a unit, except a bare "0".
 */
export function parseDuration(input: string): number {
  let s = input;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new DurationError(input, 'empty; write e.g. "15m" or "5h5m"');

  let total = 0n;
  let rest = s;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest);
    const whole = m?.[1] ?? '';
    const frac = m?.[2] ?? '';
    if (whole === '' && frac === '') {
      throw new DurationError(input, `expected a number at ${JSON.stringify(rest)}`);
    }
    rest = rest.slice(m?.[0].length ?? 0);
    const unit = /^[^\d.]*/.exec(rest)?.[0] ?? '';
    if (unit === '') {
      const hint = /^\d+(\.\d*)?$/.test(s) ? ` (e.g. "${s}s" or "${s}m")` : '';
      throw new DurationError(input, `missing unit${hint}; ${UNITS_HINT}`);
    }
    const perUnit = NS_PER_UNIT[unit];
    if (perUnit === undefined)
      throw new DurationError(input, `unknown unit ${JSON.stringify(unit)}; ${UNITS_HINT}`);
    rest = rest.slice(unit.length);
    total += BigInt(whole || '0') * perUnit;
    if (frac !== '') total += (BigInt(frac) * perUnit) / 10n ** BigInt(frac.length);
    if (total > MAX_NS) throw new DurationError(input, 'too large');
  }
  const ms = Number(total) / 1e6;
  return negative ? -ms : ms;
}

/**
 * Formats milliseconds as a compact Go duration that parseDuration reads back to the same
 * value: "5h5m", "15m", "1.5s", "300ms", "0s". Zero components are left out (Go's own
 * String() would print "5h5m0s"; both parse the same). Sub-second values use ms, us, ns.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a duration`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  // Integer ms and the fraction apart, so large values stay exact.
  const whole = Math.trunc(ms);
  const ns = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
  if (ns === 0n) return '0s';
  if (ns < 1_000n) return `${ns}ns`;
  if (ns < 1_000_000n) return `${decimal(ns, 1_000n)}us`;
  if (ns < 1_000_000_000n) return `${decimal(ns, 1_000_000n)}ms`;
  const h = ns / 3_600_000_000_000n;
  const m = (ns % 3_600_000_000_000n) / 60_000_000_000n;
  const sNs = ns % 60_000_000_000n;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${sNs ? `${decimal(sNs, 1_000_000_000n)}s` : ''}`;
}

/** n / unit as a decimal string without trailing zeros. */
function decimal(n: bigint, unit: bigint): string {
  const q = n / unit;
  const r = n % unit;
  if (r === 0n) return q.toString();
  const digits = unit.toString().length - 1;
  return `${q}.${r.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

export interface DurationOptions {
  /** Whether "0" is acceptable (e.g. "no idle timeout"); intervals and limits say no. Default true. */
  readonly allowZero?: boolean;
}

/**
 * A zod schema for a Go duration string, output in milliseconds. A YAML number 0 is taken
 * as "0"; any other bare number is rejected with a hint, as Go would. Negative durations
 * are never meaningful in config and are rejected.
 */
export function duration(options: DurationOptions = {}) {
  return z
    .unknown()
    .transform((value, ctx): number => toMs(value, ctx, options) ?? z.NEVER)
    .meta(durationMeta(options, GO_DURATION));
}

/** Like duration(), but unset (undefined, null or "", the charts' "not set") gives undefined. */
export function optionalDuration(options: DurationOptions = {}) {
  return z
    .unknown()
    .transform((value, ctx): number | undefined =>
      value === undefined || value === null || value === ''
        ? undefined
        : (toMs(value, ctx, options) ?? z.NEVER),
    )
    .optional() // makes the key optional in the input type too
    .meta(durationMeta(options, `^(${GO_DURATION.slice(1, -1)})?$`));
}

/**
 * A Go duration as a regex, for the chart's JSON Schema (json-schema.ts): the syntax only,
 * as JSON Schema cannot say "not negative"; the services' own check says that.
 */
const GO_DURATION = '^[-+]?(0|([0-9]*(\\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)$';

function durationMeta(options: DurationOptions, pattern: string) {
  return {
    type: 'string',
    pattern,
    description: 'a Go duration such as 5h, 15m, 1h30m',
    [`${DOC_META_PREFIX}type`]: options.allowZero === false ? 'duration > 0' : 'duration',
  };
}

function toMs(value: unknown, ctx: z.RefinementCtx, options: DurationOptions): number | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number') text = String(value);
  else {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as "15m", got ${describe(value)}` });
    return undefined;
  }
  try {
    const ms = parseDuration(text);
    if (ms < 0) throw new DurationError(text, 'must not be negative');
    if (ms === 0 && options.allowZero === false) throw new DurationError(text, 'must be greater than zero');
    return ms;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : typeof value;
}
