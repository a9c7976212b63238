// Kubernetes judges each resource class's task pod before any claim. A class's `spec` and
// `metadata` take any Pod fields and are passed through as written, so a misspelt field or
// a value the apiserver does not take would otherwise surface only as failed tasks (or not
// at all: client-node's serializer drops fields it does not know). At start:
//
//   per class: sample tasks -> buildTaskPod -> apiserver dry run (dryRun=All,
//   fieldValidation=Strict, the pod's JSON as built) -> verdict -> pod-check KV bucket
//
// The claimer reads the bucket before it claims and does not claim for a refused class;
// `longshore status` shows the verdicts, and `longshore config check --cluster` runs the
// same check from an operator's machine. Nothing is created: a dry run goes through
// defaulting, validation and admission and stops before storage.
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { BusKv } from '@longshore/bus';
import {
  type PodCheckOutcome,
  type PodCheckResult,
  podCheckFingerprint,
  podCheckKey,
  TaskConfig,
} from '@longshore/contracts';
import { type KubeStatus, kubeRequest, kubeStatusOf, statusCodeOf } from '@longshore/kube';
import type { Logger } from '@longshore/logging';
import { isKubeUnavailable } from '@longshore/runtime/kube';
import { Gauge, type Registry } from 'prom-client';
import { buildTaskPod, TaskPodError } from './pod-builder.ts';
import type { SchedulerSettings } from './settings.ts';

/**
 * The sample task's id. A UUID as CircleCI's are; attempt 0, which no real task has, so its
 * pod name can never be a real task pod's.
 */
export const SAMPLE_TASK_ID = '00000000-0000-4000-8000-000000000000';
const SAMPLE_ATTEMPT = 0;
/** Stands in for the task token: it goes into the Secret only, and the Secret is not sent. */
const SAMPLE_TOKEN = 'pod-check-sample';
const SAMPLE_IMAGE = 'cimg/base:current';
const SAMPLE_SERVICE = { image: 'cimg/postgres:16.0', name: 'postgres' } as const;
/** autodetectPlatform's affinity is merged into the class's own: the sample pod gets it too. */
const SAMPLE_PLATFORM = { os: 'linux', arch: 'amd64' } as const;
/** A reason is kept to this many characters (the apiserver lists every invalid field). */
const MAX_REASON = 2_000;

/** The verdict on one class. `field` is the Pod field the apiserver named, or the config key. */
export interface ClassPodCheck {
  readonly resourceClass: string;
  readonly outcome: PodCheckOutcome;
  readonly field?: string;
  readonly reason: string;
  /** podCheckFingerprint of the class's config: what a reader compares with its own. */
  readonly fingerprint: string;
}

/** The pods a class's tasks get: a task with only its primary container, and one with a service container. */
export function samplePods(
  resourceClass: string,
  settings: SchedulerSettings,
): { shape: string; pod: V1Pod }[] {
  const classConfig = settings.resourceClasses[resourceClass];
  if (classConfig === undefined) throw new Error(`resource class ${resourceClass} is not configured`);
  const shapes = [
    { shape: 'task pod', containers: [{ image: SAMPLE_IMAGE }] },
    { shape: 'task pod with a service container', containers: [{ image: SAMPLE_IMAGE }, SAMPLE_SERVICE] },
  ];
  return shapes.map(({ shape, containers }) => {
    const task = TaskConfig.parse({ task_id: SAMPLE_TASK_ID, resource_class: resourceClass, containers });
    const { pod } = buildTaskPod({
      taskId: SAMPLE_TASK_ID,
      attempt: SAMPLE_ATTEMPT,
      resourceClass,
      allocation: 'pod-check',
      token: SAMPLE_TOKEN,
      task,
      classConfig,
      settings: {
        namespace: settings.namespace,
        runnerApiUrl: settings.runnerApiUrl,
        maxRunTimeMs: settings.maxRunTimeMs,
        taskPod: settings.taskPod,
        ...(settings.autodetectPlatform ? { platforms: [SAMPLE_PLATFORM] } : {}),
      },
    });
    return { shape, pod };
  });
}

/** A verdict without the class and fingerprint. */
export type PodVerdict = { outcome: PodCheckOutcome; field?: string; reason: string };

/**
 * What the apiserver's refusal of a dry-run create says about the pod. Any refusal is the
 * pod's (a field it does not know or a value it does not take: 400 or 422; an admission
 * policy: 403; the task namespace missing: 404), except an admission webhook that cannot
 * take part in dry runs: that says nothing about the pod, so the pod is unchecked.
 * Answers that waiting could change (5xx, 429) are not verdicts: the caller waits them out.
 */
export function verdictOfRefusal(code: number, status: KubeStatus | undefined): PodVerdict {
  const message = status?.message ?? `HTTP ${code}`;
  if (/does not support dry run/i.test(message)) {
    return { outcome: 'unchecked', reason: clip(message) };
  }
  const field = fieldOf(status);
  return { outcome: 'refused', ...(field === undefined ? {} : { field }), reason: clip(ownWords(message)) };
}

/** The field the apiserver names: the first cause of an Invalid answer, or the one in a decoding error. */
function fieldOf(status: KubeStatus | undefined): string | undefined {
  const details = status?.details;
  if (
    typeof details === 'object' &&
    details !== null &&
    'causes' in details &&
    Array.isArray(details.causes)
  ) {
    for (const c of details.causes as unknown[]) {
      if (
        typeof c === 'object' &&
        c !== null &&
        'field' in c &&
        typeof c.field === 'string' &&
        c.field !== ''
      )
        return c.field;
    }
  }
  const message = status?.message ?? '';
  // Strict field validation: `unknown field "spec.containers[0].resourcez"` (or `duplicate field`).
  const named = /(?:unknown|duplicate) field "([^"]+)"/.exec(message)?.[1];
  if (named !== undefined) return named;
  // A value of the wrong JSON type: `Go struct field PodSpec.spec.nodeSelector of type map[string]string`.
  return /Go struct field [A-Za-z0-9_]+\.(\S+) of type/.exec(message)?.[1];
}

/** The message without the sample pod's own name, which means nothing to the reader. */
function ownWords(message: string): string {
  return message
    .replace(/^Pod "[^"]*" is invalid: /, '')
    .replace(/^Pod in version "v1" cannot be handled as a Pod: /, '')
    .replace(/^pods "[^"]*" is forbidden: /, 'forbidden: ');
}

function clip(s: string): string {
  return s.length > MAX_REASON ? `${s.slice(0, MAX_REASON)}...` : s;
}

export interface PodCheckDeps {
  kc: KubeConfig;
  settings: SchedulerSettings;
  /**
   * Runs one dry run. The scheduler waits out an apiserver that cannot answer
   * (retryKubeCall); the CLI tries once. Default: once.
   */
  attempt?: <T>(what: string, call: () => Promise<T>) => Promise<T>;
  signal?: AbortSignal;
}

/** Checks every configured class, one after the other. Throws only when the apiserver cannot answer. */
export async function checkClassPods(d: PodCheckDeps): Promise<ClassPodCheck[]> {
  const out: ClassPodCheck[] = [];
  for (const rc of Object.keys(d.settings.resourceClasses)) out.push(await checkClassPod(d, rc));
  return out;
}

export async function checkClassPod(d: PodCheckDeps, resourceClass: string): Promise<ClassPodCheck> {
  const { settings } = d;
  const fingerprint = podCheckFingerprint(
    {
      resourceClasses: settings.resourceClasses,
      taskPod: settings.taskPod,
      maxRunTime: settings.maxRunTimeMs,
      autodetectPlatform: settings.autodetectPlatform,
    },
    resourceClass,
  );
  const base = { resourceClass, fingerprint };
  let samples: { shape: string; pod: V1Pod }[];
  try {
    samples = samplePods(resourceClass, settings);
  } catch (err) {
    if (!(err instanceof TaskPodError)) throw err;
    return { ...base, outcome: 'refused', ...(err.path ? { field: err.path } : {}), reason: err.message };
  }
  const attempt = d.attempt ?? (<T>(_what: string, call: () => Promise<T>) => call());
  let unchecked: PodVerdict | undefined;
  for (const { shape, pod } of samples) {
    const verdict = await dryRun(d, pod, attempt, `the dry run of ${resourceClass}'s ${shape}`);
    if (verdict.outcome === 'refused') {
      return { ...base, ...verdict, reason: `the apiserver refused the ${shape}: ${verdict.reason}` };
    }
    if (verdict.outcome === 'unchecked') unchecked ??= verdict;
  }
  return unchecked ? { ...base, ...unchecked } : { ...base, outcome: 'accepted', reason: '' };
}

async function dryRun(
  d: PodCheckDeps,
  pod: V1Pod,
  attempt: NonNullable<PodCheckDeps['attempt']>,
  what: string,
): Promise<PodVerdict> {
  const namespace = d.settings.namespace;
  try {
    await attempt(what, () =>
      kubeRequest(d.kc, {
        method: 'POST',
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
        query: { dryRun: 'All', fieldValidation: 'Strict' },
        body: pod,
        ...(d.signal ? { signal: d.signal } : {}),
      }),
    );
    return { outcome: 'accepted', reason: '' };
  } catch (err) {
    const code = statusCodeOf(err);
    if (code === undefined || isKubeUnavailable(err)) throw err;
    return verdictOfRefusal(code, kubeStatusOf(err));
  }
}

export interface PodCheckRecorderDeps extends PodCheckDeps {
  /** The bucket (POD_CHECK_KV_BUCKET), opened by the caller. */
  kv: BusKv<typeof PodCheckResult>;
  /** This scheduler instance's name, in each result. */
  runner: string;
  logger: Logger;
  registry: Registry;
  /** Runs a bucket write until NATS takes it (the service passes `svc.retry`). Default: once. */
  retry?: <T>(what: string, step: () => Promise<T>) => Promise<T>;
}

/**
 * The scheduler's start-up step: checks every class, stores each verdict in the bucket (and
 * removes verdicts of classes no longer configured), logs it and sets a gauge per class.
 */
export async function recordPodChecks(d: PodCheckRecorderDeps): Promise<ClassPodCheck[]> {
  const accepted = new Gauge({
    name: 'longshore_scheduler_pod_check_accepted',
    help: "Whether the apiserver accepts the resource class's task pod in a dry run (1; unchecked counts as 1) or refused it (0)",
    labelNames: ['resource_class'],
    registers: [d.registry],
  });
  const retry = d.retry ?? (<T>(_what: string, step: () => Promise<T>) => step());
  const results = await checkClassPods(d);
  const at = new Date().toISOString();
  for (const r of results) {
    const result: PodCheckResult = {
      resource_class: r.resourceClass,
      at,
      outcome: r.outcome,
      ...(r.field === undefined ? {} : { field: r.field }),
      reason: r.reason,
      fingerprint: r.fingerprint,
      runner: d.runner,
    };
    await retry(`the pod check of ${r.resourceClass} in the bucket`, () =>
      d.kv.put(podCheckKey(r.resourceClass), result),
    );
    accepted.set({ resource_class: r.resourceClass }, r.outcome === 'refused' ? 0 : 1);
    const fields = { resource_class: r.resourceClass, outcome: r.outcome, field: r.field, reason: r.reason };
    if (r.outcome === 'refused')
      d.logger.error(
        fields,
        `the task pod of ${r.resourceClass} is refused by the apiserver: no claims for it`,
      );
    else if (r.outcome === 'unchecked')
      d.logger.warn(fields, `the task pod of ${r.resourceClass} could not be checked: ${r.reason}`);
    else d.logger.info(fields, `the task pod of ${r.resourceClass} passes the apiserver's dry run`);
  }
  const configured = new Set(results.map((r) => podCheckKey(r.resourceClass)));
  for (const key of await retry('the keys of the pod check bucket', () => d.kv.keys())) {
    if (!configured.has(key))
      await retry(`removing ${key} from the pod check bucket`, () => d.kv.delete(key));
  }
  return results;
}
