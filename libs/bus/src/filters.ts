// Subject filters: the single filter subject a consumer or subscription uses on the
// server, and user-supplied filters relative to the prefix.
import { assertPrefix, type SubjectDef, subjectFor } from '@longshore/contracts';
import { BusSetupError } from './errors.ts';

/**
 * The one filter subject of a consumer of `defs`.
 *
 * nats-server 2.9 allows a single filter subject per consumer (several arrive in 2.10).
 * One subject is used exactly; several share the narrowest wildcard that covers them all,
 * e.g. task.claimed + task.interrupted -> `<prefix>.task.>`, task.claimed + gc.swept ->
 * `<prefix>.>`. The consumer then also receives the other subjects under that wildcard and
 * acks them unhandled. One consumer (rather than one per subject) keeps the stream's order
 * across the subjects, which the task pipeline relies on (claimed before interrupted).
 */
export function filterSubjectFor(prefix: string, defs: readonly SubjectDef[]): string {
  const names = [...new Set(defs.map((d) => d.name))];
  const [first, ...rest] = names;
  if (first === undefined) throw new BusSetupError('a consumer needs at least one subject');
  if (rest.length === 0) return subjectFor(prefix, defs[0]!);
  const split = names.map((n) => n.split('.'));
  const shortest = Math.min(...split.map((t) => t.length));
  const common: string[] = [];
  // Stop one token short of the shortest name: `x.>` does not match `x` itself.
  for (let i = 0; i < shortest - 1; i++) {
    const tok = split[0]![i]!;
    if (!split.every((t) => t[i] === tok)) break;
    common.push(tok);
  }
  return [prefix, ...common, '>'].join('.');
}

/** `task.>` under prefix `ls` -> `ls.task.>`; rejects what NATS would not take as a filter. */
export function relativeFilter(prefix: string, filter: string): string {
  const tokens = filter.split('.');
  const ok = tokens.every(
    (t, i) =>
      t.length > 0 &&
      !/\s/.test(t) &&
      (t === '*' || (t === '>' && i === tokens.length - 1) || !/[*>]/.test(t)),
  );
  if (!ok) throw new BusSetupError(`"${filter}" is not a subject filter`);
  return `${assertPrefix(prefix)}.${filter}`;
}
