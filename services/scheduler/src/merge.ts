// Reading the user's half of a task pod. A resource class's `metadata` and `spec` come from
// YAML as untyped mappings (the config schema passes any Pod fields through), so every
// field the builder merges into is checked for its shape here, and a wrong shape becomes a
// TaskPodError naming the config key, not a TypeError deep in the builder or a pod the
// apiserver rejects for a reason far from its cause.
import { formatPath } from '@longshore/config';

/** A key path inside the configuration, e.g. ['agent', 'resourceClasses', rc, 'spec', 'volumes', 1]. */
export type Path = readonly PropertyKey[];

/**
 * A task pod cannot be built from this input. The scheduler fails the task with the
 * message, so it names the configuration key at fault (when there is one) and the reason.
 */
export class TaskPodError extends Error {
  override readonly name = 'TaskPodError';
  /** The config key at fault, as written in the file; '' when the problem is not one key's. */
  readonly path: string;
  /** The problem, without the path. */
  readonly reason: string;

  constructor(path: Path, reason: string, options?: { cause?: unknown }) {
    const at = formatPath(path);
    super(
      at === '' ? `cannot build the task pod: ${reason}` : `cannot build the task pod: ${at}: ${reason}`,
      options,
    );
    this.path = at;
    this.reason = reason;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `parent[key]` as a mapping; undefined when absent. */
export function recordAt(
  parent: Record<string, unknown>,
  key: string,
  path: Path,
): Record<string, unknown> | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new TaskPodError([...path, key], 'must be a mapping');
  return v;
}

/** `parent[key]` as a list of mappings (containers, volumes, env, ...); [] when absent. */
export function recordListAt(
  parent: Record<string, unknown>,
  key: string,
  path: Path,
): Record<string, unknown>[] {
  const v = parent[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new TaskPodError([...path, key], 'must be a list');
  v.forEach((item, i) => {
    if (!isRecord(item)) throw new TaskPodError([...path, key, i], 'must be a mapping');
  });
  return v as Record<string, unknown>[];
}

/**
 * `parent[key]` as labels or annotations. Kubernetes wants strings; YAML reads `team: 1`
 * as a number, which the apiserver would reject with a decoding error that names no key.
 */
export function stringMapAt(
  parent: Record<string, unknown>,
  key: string,
  path: Path,
): Record<string, string> {
  const map = recordAt(parent, key, path) ?? {};
  for (const [k, v] of Object.entries(map)) {
    if (typeof v !== 'string')
      throw new TaskPodError([...path, key, k], 'must be a string (quote it in YAML)');
  }
  return map as Record<string, string>;
}

/** The `name` of each entry, for clash checks; entries without a string name are skipped. */
export function namesOf(list: readonly Record<string, unknown>[]): string[] {
  return list.flatMap((e) => (typeof e.name === 'string' ? [e.name] : []));
}

/**
 * `list` with `item` in place of the entry of the same name, or appended. Env vars are
 * resolved in order and a later duplicate silently wins in the kubelet, so replacing
 * keeps exactly one definition and makes the winner obvious in the stored pod.
 */
export function upsertByName<T extends { name?: unknown }>(list: readonly T[], item: T): T[] {
  const i = list.findIndex((e) => e.name === item.name);
  if (i === -1) return [...list, item];
  return list.map((e, j) => (j === i ? item : e));
}

/**
 * User fields as the client's type. Only the parts we merge into are checked (above);
 * the rest is the apiserver's to validate, and its message is what the task fails with.
 */
export function asKube<T>(fields: unknown): T {
  return fields as T;
}
