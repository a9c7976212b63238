// The simulator's stand-in for the in-pod task agent. In the test bed no container runs
// (kwok only moves pod status), so nothing inside the pod would report the job's result.
// The real agent reports with its task token when the job's steps finish, just before its
// container exits; this watches task pods and reports the same way when container 0
// terminates on its own. Endings the agent cannot see (eviction, preemption, deadline,
// image pull failure, deletion) are left unreported: those are the runner's to handle.
import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  type V1ContainerStateTerminated,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { GOAT_CONFIG_ENV, GoatConfig, MANAGED_SELECTOR, PRIMARY_CONTAINER } from '@longshore/contracts';
import type { SimState } from './sim-state.ts';

export interface PodReporterOptions {
  kc: KubeConfig;
  state: SimState;
  /** Only pods in this namespace; all namespaces when unset. */
  namespace?: string;
  /** Reports what it did and what it could not do (never a token). */
  onEvent?: (e: { taskId?: string; pod: string; outcome: string }) => void;
}

/** Exit reasons a kubelet gives when the container was killed rather than finishing. */
const KILLED_REASONS = new Set(['ContainerStatusUnknown', 'OOMKilled', 'DeadlineExceeded', 'Evicted']);

/** What the agent in this pod would report, or undefined if it would report nothing. */
export function agentReport(
  pod: V1Pod,
): { status: 'succeeded' | 'failed'; message?: string; finishedAt: Date } | undefined {
  if (pod.status?.reason === 'Evicted' || pod.status?.reason === 'DeadlineExceeded') return undefined;
  if ((pod.status?.conditions ?? []).some((c) => c.type === 'DisruptionTarget' && c.status === 'True')) {
    return undefined;
  }
  const c0 = pod.status?.containerStatuses?.find((c) => c.name === PRIMARY_CONTAINER);
  const t: V1ContainerStateTerminated | undefined = c0?.state?.terminated;
  if (t === undefined || KILLED_REASONS.has(t.reason ?? '')) return undefined;
  const finishedAt = t.finishedAt ? new Date(t.finishedAt) : new Date();
  return t.exitCode === 0
    ? { status: 'succeeded', finishedAt }
    : { status: 'failed', message: `task agent: job exited with code ${t.exitCode}`, finishedAt };
}

/** How long the settings of a deleted task Secret are remembered (its pod may be seen later). */
const SECRET_MEMORY_MS = 10 * 60_000;

export class PodReporter {
  readonly #opts: PodReporterOptions;
  readonly #core: CoreV1Api;
  /**
   * "namespace/secret" -> the agent's settings, remembered from the moment the Secret
   * appears: the runner deletes it as soon as the task ends, and the real agent would
   * have read it long before, at start.
   */
  readonly #goat = new Map<string, { goat: GoatConfig; until: number }>();
  readonly #reported = new Set<string>();
  #informers: { stop(): Promise<void>; start(): Promise<void> }[] = [];
  #stopped = false;

  constructor(opts: PodReporterOptions) {
    this.#opts = opts;
    this.#core = opts.kc.makeApiClient(CoreV1Api);
  }

  async start(): Promise<void> {
    const ns = this.#opts.namespace;
    const secretsPath = ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets';
    const listSecrets = () =>
      ns
        ? this.#core.listNamespacedSecret({ namespace: ns, labelSelector: MANAGED_SELECTOR })
        : this.#core.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR });
    const secrets = makeInformer<V1Secret>(this.#opts.kc, secretsPath, listSecrets, MANAGED_SELECTOR);
    const remember = (sec: V1Secret) => this.#remember(sec);
    secrets.on('add', remember);
    secrets.on('update', remember);
    this.#restartOnError(secrets);
    this.#informers.push(secrets);
    await secrets.start();

    const path = ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods';
    const list = () =>
      ns
        ? this.#core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED_SELECTOR })
        : this.#core.listPodForAllNamespaces({ labelSelector: MANAGED_SELECTOR });
    const informer = makeInformer<V1Pod>(this.#opts.kc, path, list, MANAGED_SELECTOR);
    const onPod = (pod: V1Pod) => {
      void this.#observe(pod);
    };
    informer.on('add', onPod);
    informer.on('update', onPod);
    informer.on('delete', (pod) => {
      if (pod.metadata?.uid) this.#reported.delete(pod.metadata.uid);
    });
    this.#restartOnError(informer);
    this.#informers.push(informer);
    await informer.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled(this.#informers.map((i) => i.stop()));
  }

  /** client-node's informers stop on a watch error; a real agent does not give up. */
  #restartOnError(
    informer: ReturnType<typeof makeInformer<V1Pod>> | ReturnType<typeof makeInformer<V1Secret>>,
  ) {
    informer.on('error', () => {
      if (!this.#stopped) setTimeout(() => void informer.start().catch(() => {}), 1_000);
    });
  }

  #remember(secret: V1Secret): void {
    const now = Date.now();
    for (const [k, v] of this.#goat) if (v.until < now) this.#goat.delete(k);
    const key = `${secret.metadata?.namespace}/${secret.metadata?.name}`;
    for (const raw of Object.values(secret.data ?? {})) {
      try {
        const parsed = GoatConfig.safeParse(JSON.parse(Buffer.from(raw, 'base64').toString('utf8')));
        if (parsed.success) this.#goat.set(key, { goat: parsed.data, until: now + SECRET_MEMORY_MS });
      } catch {
        // Not the agent's settings: some other key of the Secret.
      }
    }
  }

  async #observe(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid;
    const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (!uid || this.#reported.has(uid)) return;
    const report = agentReport(pod);
    if (report === undefined) return;
    const goat = await this.#goatOf(pod);
    if (goat === undefined) {
      this.#opts.onEvent?.({ pod: name, outcome: 'no agent settings found for the pod; not reporting' });
      return;
    }
    if (this.#reported.has(uid)) return;
    this.#reported.add(uid);
    const outcome = this.#opts.state.report(
      goat.task_id,
      goat.token,
      report.status,
      report.message,
      report.finishedAt,
    );
    this.#opts.onEvent?.({
      taskId: goat.task_id,
      pod: name,
      outcome: outcome.ok ? `reported ${report.status}` : `report refused: ${outcome.reason}`,
    });
  }

  /**
   * The agent's settings, from the Secret that container 0's CIRCLECI_GOAT_CONFIG points
   * at: remembered from the Secret watch, else read now, waiting a little for a lagging
   * watch before giving up.
   */
  async #goatOf(pod: V1Pod): Promise<GoatConfig | undefined> {
    const c0 = pod.spec?.containers.find((c) => c.name === PRIMARY_CONTAINER);
    const ref = c0?.env?.find((e) => e.name === GOAT_CONFIG_ENV)?.valueFrom?.secretKeyRef;
    const namespace = pod.metadata?.namespace;
    if (!ref?.name || !namespace) return undefined;
    const key = `${namespace}/${ref.name}`;
    for (let i = 0; i < 50 && !this.#stopped; i++) {
      const known = this.#goat.get(key)?.goat;
      if (known) return known;
      const read = await this.#readGoat(namespace, ref.name, ref.key);
      if (read) return read;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  }

  async #readGoat(namespace: string, name: string, key: string): Promise<GoatConfig | undefined> {
    try {
      const secret = await this.#core.readNamespacedSecret({ name, namespace });
      const raw = secret.data?.[key];
      if (raw === undefined) return undefined;
      const parsed = GoatConfig.safeParse(JSON.parse(Buffer.from(raw, 'base64').toString('utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}
