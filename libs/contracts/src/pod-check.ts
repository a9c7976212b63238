// What Kubernetes said of each resource class's task pod: the scheduler sends a sample pod
// of every class to the apiserver as a server-side dry run at start (services/scheduler
// src/pod-check.ts) and keeps the verdict in a NATS KV bucket, one key per class, where
// the claimer reads it before it claims and `longshore status` shows it. A class whose pod
// the apiserver refused must not claim: every task of it would fail.
//
// A verdict is about one config of the class. A config change restarts the services, but
// not at once and not in order: a claimer may read the verdict on the previous config
// before the scheduler has checked the new one. So each verdict carries a fingerprint of
// what the pod is built from, and a reader compares it with its own.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** NATS KV bucket (under the bus prefix) holding the latest PodCheckResult per class. */
export const POD_CHECK_KV_BUCKET = 'pod-check';

/** A class's key in the bucket: its name with '/' replaced by '.', as for constraint status. */
export function podCheckKey(resourceClass: string): string {
  return resourceClass.replaceAll('/', '.');
}

/**
 * - accepted: the apiserver would create the class's task pods.
 * - refused: it would not (a field it does not know, a value it does not take, an admission
 *   policy), or no pod could be built from the config at all; the class must not claim.
 * - unchecked: the apiserver could not judge the pod (an admission webhook that does not
 *   support dry runs); nothing is known against the class, so it may claim.
 */
export const PodCheckOutcome = z.enum(['accepted', 'refused', 'unchecked']);
export type PodCheckOutcome = z.infer<typeof PodCheckOutcome>;

export const PodCheckResult = z.object({
  resource_class: z.string().min(1),
  at: z.iso.datetime(),
  outcome: PodCheckOutcome,
  /**
   * The field at fault as the apiserver named it in the Pod (`spec.containers[0].resourcez`),
   * or the config key when no pod could be built; absent when none was named.
   */
  field: z.string().min(1).max(1024).optional(),
  /** The apiserver's reason in its own words (or why no pod could be built); '' when accepted. */
  reason: z.string().max(8192),
  /** podCheckFingerprint of the config this verdict is about. */
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in lowercase hex'),
  /** The scheduler instance that asked the apiserver. */
  runner: z.string().min(1),
});
export type PodCheckResult = z.infer<typeof PodCheckResult>;

/**
 * The parts of the `agent` config a class's task pod is built from: the class's metadata
 * and spec, the injected parts (agent.taskPod), the deadline (agent.maxRunTime, in ms) and
 * whether node affinity for the image's platform is added. Structural, so that every
 * service passes its parsed `cfg.agent` as it is.
 */
export interface PodCheckAgentConfig {
  readonly resourceClasses: Readonly<
    Record<string, { readonly metadata?: unknown; readonly spec?: unknown }>
  >;
  readonly taskPod: unknown;
  readonly maxRunTime: number;
  readonly autodetectPlatform: boolean;
}

/**
 * A sha256 (hex) of what a class's task pod is built from, the same in every service that
 * parsed the same config: object keys are sorted before hashing. The task namespace is not
 * part of it: services resolve it differently, and it does not change what the pod is.
 */
export function podCheckFingerprint(agent: PodCheckAgentConfig, resourceClass: string): string {
  const rc = agent.resourceClasses[resourceClass];
  const subject = {
    resource_class: resourceClass,
    metadata: rc?.metadata ?? null,
    spec: rc?.spec ?? null,
    task_pod: agent.taskPod ?? null,
    max_run_time_ms: agent.maxRunTime,
    autodetect_platform: agent.autodetectPlatform,
  };
  return createHash('sha256').update(canonicalJson(subject)).digest('hex');
}

/** JSON with every object's keys in sorted order; undefined members are left out, as JSON does. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * What a claimer makes of the bucket's entry for a class, given the fingerprint of its own
 * config: `claim` only on a verdict about that config that is not a refusal. No entry, or
 * one about another config (the scheduler has not checked this one yet), is `pending`: the
 * class waits, since no pod of it has been judged yet.
 */
export function podCheckGate(
  entry: PodCheckResult | undefined,
  fingerprint: string,
): { readonly claim: boolean; readonly state: PodCheckOutcome | 'pending' } {
  if (entry === undefined || entry.fingerprint !== fingerprint) return { claim: false, state: 'pending' };
  return { claim: entry.outcome !== 'refused', state: entry.outcome };
}
