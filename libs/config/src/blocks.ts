// Object schemas with Longshore's unknown-key policy (docs/config.md, "Unknown keys"):
//
// - `lenient` blocks are the ones CircleCI's charts also define (top level, agent,
//   provisioner, logging, ...). Their values files carry many keys that configure the
//   chart's Deployment rather than the program (replicaCount, image, affinity, ...), so
//   unknown keys are accepted and dropped. But a key that looks like a misspelling of a key
//   we read (same letters in another case, or a couple of edits away) is an error, because
//   silently ignoring `maxConcurentTasks` would run with the default.
// - `strict` blocks are Longshore's own (bus, redis, http, ...): any unknown key is an error.
//
// Either way a key set to null (`customSecret:` with nothing after it) counts as unset, as
// it does for Helm, and the parsed output holds only the keys we read.
import { z } from 'zod';

export type KeyPolicy =
  | { readonly unknownKeys: 'strict' }
  | {
      readonly unknownKeys: 'lenient';
      /** Keys the charts define that we do not read; never reported, even if close to ours. */
      readonly chartKeys?: readonly string[];
    };

/**
 * An object schema over `shape` with the given unknown-key policy. Typed as the plain
 * z.object over the same shape, which is what it outputs.
 */
export function block<S extends z.ZodRawShape>(
  shape: S,
  policy: KeyPolicy,
): z.ZodType<z.output<z.ZodObject<S>>, z.input<z.ZodObject<S>>> {
  const known = Object.keys(shape);
  const ignored = new Set(policy.unknownKeys === 'lenient' ? (policy.chartKeys ?? []) : []);
  const schema = z
    .preprocess((value) => dropNulls(value, known), z.looseObject(shape))
    // `when` makes the key check run even when a value inside the block is invalid, so a
    // typo and a bad value are reported together rather than one start-up at a time.
    .superRefine(
      (value, ctx) => {
        if (!isRecord(value)) return;
        for (const key of Object.keys(value)) {
          if (known.includes(key) || ignored.has(key)) continue;
          const guess = closestKey(key, known);
          if (policy.unknownKeys === 'lenient' && guess === undefined) continue;
          const hint =
            guess !== undefined ? `did you mean "${guess}"?` : `expected one of: ${known.join(', ')}`;
          ctx.addIssue({ code: 'custom', path: [key], message: `unknown key (${hint})` });
        }
      },
      { when: () => true },
    )
    .transform((value) => pick(value, known));
  return schema as unknown as z.ZodType<z.output<z.ZodObject<S>>, z.input<z.ZodObject<S>>>;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dropNulls(value: unknown, known: readonly string[]): unknown {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!(v === null && known.includes(k))) out[k] = v;
  return out;
}

function pick(value: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of known) if (value[k] !== undefined) out[k] = value[k];
  return out;
}

/**
 * The known key that `key` most plausibly misspells, if any: equal ignoring case, or within
 * a small edit distance that grows with the key's length (1 up to 4 letters, 2 up to 10,
 * 3 beyond). Two-letter keys only match ignoring case, as anything else is guesswork.
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameLetters = known.find((k) => k.toLowerCase() === lower);
  if (sameLetters !== undefined) return sameLetters;
  if (key.length <= 2) return undefined;
  const budget = key.length <= 4 ? 1 : key.length <= 10 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = budget + 1;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase(), budget);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning budget + 1) once it must exceed `budget`. */
function editDistance(a: string, b: string, budget: number): number {
  if (Math.abs(a.length - b.length) > budget) return budget + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      cur.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin > budget) return budget + 1;
    prev = cur;
  }
  return prev[b.length] ?? budget + 1;
}
