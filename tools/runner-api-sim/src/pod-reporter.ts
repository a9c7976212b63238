// The simulator's stand-in for what runs inside a task pod: CircleCI's orchestrator
// (circleci/runner-init, container 0's process) and the task agent it starts. In the test bed
// no container runs (kwok only moves pod status), so this watches task pods and, when
// container 0 terminates on its own, does what the orchestrator would have done before
// exiting, with the task token from the pod's Secret. The fate in the image (docs/testbed.md)
// says which ending it was:
//
//   the job ran (succeed, any other image)  the task agent reports it completed; exit 0
//   job-fail                                 the task agent reports the job failed; exit 0
//   agent-error                              the task agent exits with an error: the
//                                            orchestrator fails the task (gives it back first
//                                            where unsafe retries are on); exit 0
//   agent-start-fail                         the task agent cannot be started, an error the
//                                            orchestrator retries: it gives the task back (a
//                                            fail event if the unclaim is refused); exit 0
//   exit-<N>                                 the orchestrator could not report (its fail event
//                                            was refused, it could not start, it was killed):
//                                            nothing is reported; exit N
//
// So container 0 exits 0 whether the job passed or not, as the real one does, and the runner
// under test must not take the exit code for the job's result. Endings the orchestrator
// does not reach on its own (eviction, preemption, deadline, image pull failure, deletion)
// are left unreported here: the runner must report them. (On SIGTERM the real orchestrator
// also reports, within its grace period; this stand-in does not play that.)
import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  type V1ContainerStateTerminated,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { GOAT_CONFIG_ENV, GoatConfig, MANAGED_SELECTOR, PRIMARY_CONTAINER } from '@longshore/contracts';
import type { WaitLogger } from '@longshore/runtime';
import { type KeptInformer, keepInformer } from '@longshore/runtime/kube';
import type { SimState } from './sim-state.ts';

export interface PodReporterOptions {
  kc: KubeConfig;
  state: SimState;
  /** Only pods in this namespace; all namespaces when unset. */
  namespace?: string;
  /** Reports what it did and what it could not do (never a token). */
  onEvent?: (e: { taskId?: string; pod: string; outcome: string }) => void;
  /** Says when a watch waits for the apiserver or breaks and restarts; default: not said. */
  logger?: WaitLogger;
}

const SILENT: WaitLogger = { info: () => undefined, warn: () => undefined };

/** Exit reasons a kubelet gives when the container was killed rather than finishing. */
const KILLED_REASONS = new Set(['ContainerStatusUnknown', 'OOMKilled', 'DeadlineExceeded', 'Evicted']);

/** What the pod's own processes did about the task's end, by its fate. */
export type InPodEnding =
  /** The task agent ran the job to its end and reported it. */
  | { kind: 'agent-report'; status: 'succeeded' | 'failed'; message?: string; finishedAt: Date }
  /**
   * The orchestrator met an error and handles it as runner-init does: an unclaim when the
   * error is one it retries or the task allows unsafe retries, else (or when the unclaim is
   * refused) a fail event.
   */
  | { kind: 'orchestrator-error'; retryable: boolean; message: string; finishedAt: Date };

/** The fate named by a task pod's image (`fate.test/<fate>:<dur>`), if it names one. */
export function fateOf(image: string | undefined): string | undefined {
  return /^fate\.test\/([a-z]+(?:-[a-z]+)*)/.exec(image ?? '')?.[1];
}

/**
 * What the orchestrator and task agent of this pod did once container 0 terminated, or
 * undefined when nothing was reported from the pod: it is still running, was stopped from
 * outside, or the orchestrator exited non-zero (it could not report).
 */
export function inPodEnding(pod: V1Pod): InPodEnding | undefined {
  if (pod.status?.reason === 'Evicted' || pod.status?.reason === 'DeadlineExceeded') return undefined;
  if ((pod.status?.conditions ?? []).some((c) => c.type === 'DisruptionTarget' && c.status === 'True')) {
    return undefined;
  }
  const c0 = pod.status?.containerStatuses?.find((c) => c.name === PRIMARY_CONTAINER);
  const t: V1ContainerStateTerminated | undefined = c0?.state?.terminated;
  if (t === undefined || KILLED_REASONS.has(t.reason ?? '') || t.exitCode !== 0) return undefined;
  const finishedAt = t.finishedAt ? new Date(t.finishedAt) : new Date();
  const image = pod.spec?.containers.find((c) => c.name === PRIMARY_CONTAINER)?.image ?? c0?.image;
  switch (fateOf(image)) {
    case 'job-fail':
      return {
        kind: 'agent-report',
        status: 'failed',
        message: 'job failed: a step exited with code 1',
        finishedAt,
      };
    case 'agent-error':
      return {
        kind: 'orchestrator-error',
        retryable: false,
        message: 'the task agent exited with an error (exit status 1) [simulated orchestrator]',
        finishedAt,
      };
    case 'agent-start-fail':
      return {
        kind: 'orchestrator-error',
        retryable: true,
        message: 'the task agent could not be started [simulated orchestrator]',
        finishedAt,
      };
    default:
      return { kind: 'agent-report', status: 'succeeded', finishedAt };
  }
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
  /** Pods whose Secret was read (or is being read) when the pod was first seen. */
  readonly #learning = new Set<string>();
  readonly #informers: KeptInformer[] = [];
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
    await this.#keep(secrets, `the task Secret watch${ns ? ` of ${ns}` : ''}`);

    const path = ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods';
    const list = () =>
      ns
        ? this.#core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED_SELECTOR })
        : this.#core.listPodForAllNamespaces({ labelSelector: MANAGED_SELECTOR });
    const informer = makeInformer<V1Pod>(this.#opts.kc, path, list, MANAGED_SELECTOR);
    const onPod = (pod: V1Pod) => {
      void this.#learn(pod);
      void this.#observe(pod);
    };
    informer.on('add', onPod);
    informer.on('update', onPod);
    informer.on('delete', (pod) => {
      if (pod.metadata?.uid) {
        this.#reported.delete(pod.metadata.uid);
        this.#learning.delete(pod.metadata.uid);
      }
    });
    await this.#keep(informer, `the task pod watch${ns ? ` of ${ns}` : ''}`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled(this.#informers.map((i) => i.stop()));
  }

  /**
   * Starts a watch and keeps it running (client-node's informers stop on a watch error; a
   * real agent does not give up); resolves once its first list is in.
   */
  async #keep(
    informer: ReturnType<typeof makeInformer<V1Pod>> | ReturnType<typeof makeInformer<V1Secret>>,
    what: string,
  ): Promise<void> {
    const kept = keepInformer(informer, { what, logger: this.#opts.logger ?? SILENT });
    this.#informers.push(kept);
    // stop() stops the watches kept before it came; one kept after it is stopped here.
    if (this.#stopped) await kept.stop();
    await kept.started;
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

  /**
   * Reads the agent's settings as soon as the pod is seen, as the real orchestrator has them
   * from its start: the Secret watch may lag (after an apiserver restart, say), and the
   * runner deletes the Secret the moment container 0 ends, so a read left to the end can
   * lose that race and leave a finished task unreported.
   */
  async #learn(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid;
    const ref = secretRefOf(pod);
    if (!uid || ref === undefined || this.#learning.has(uid) || this.#reported.has(uid)) return;
    this.#learning.add(uid);
    if (this.#goat.has(ref.id)) return;
    const goat = await this.#readGoat(ref.namespace, ref.name, ref.key);
    if (goat) this.#goat.set(ref.id, { goat, until: Date.now() + SECRET_MEMORY_MS });
  }

  async #observe(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid;
    const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    if (!uid || this.#reported.has(uid)) return;
    const ending = inPodEnding(pod);
    if (ending === undefined) return;
    const goat = await this.#goatOf(pod);
    if (goat === undefined) {
      this.#opts.onEvent?.({ pod: name, outcome: 'no agent settings found for the pod; not reporting' });
      return;
    }
    if (this.#reported.has(uid)) return;
    this.#reported.add(uid);
    this.#opts.onEvent?.({ taskId: goat.task_id, pod: name, outcome: this.#act(goat, ending) });
  }

  /** Does what the pod's processes would have done; says what became of it (never a token). */
  #act(goat: GoatConfig, ending: InPodEnding): string {
    const { state } = this.#opts;
    if (ending.kind === 'agent-report') {
      const r = state.report(goat.task_id, goat.token, ending.status, ending.message, ending.finishedAt);
      return r.ok ? `task agent reported ${ending.status}` : `task agent's report refused: ${r.reason}`;
    }
    let refused = '';
    if (ending.retryable || goat.enable_unsafe_retries) {
      const u = state.unclaim(goat.task_id, goat.token);
      if (u.ok) return 'orchestrator gave the task back';
      refused = `unclaim refused (${u.reason}), `;
    }
    const f = state.fail(goat.token, {
      allocation: goat.allocation,
      timestamp: ending.finishedAt.getTime(),
      message: Buffer.from(ending.message).toString('base64'),
    });
    // The real orchestrator would now exit 1, which kwok's fate cannot show: said here.
    return f.ok ? `${refused}orchestrator sent a fail event` : `${refused}fail event refused (${f.reason})`;
  }

  /**
   * The agent's settings, from the Secret that container 0's CIRCLECI_GOAT_CONFIG points
   * at: remembered from the Secret watch, else read now, waiting a little for a lagging
   * watch before giving up.
   */
  async #goatOf(pod: V1Pod): Promise<GoatConfig | undefined> {
    const ref = secretRefOf(pod);
    if (ref === undefined) return undefined;
    for (let i = 0; i < 50 && !this.#stopped; i++) {
      const known = this.#goat.get(ref.id)?.goat;
      if (known) return known;
      const read = await this.#readGoat(ref.namespace, ref.name, ref.key);
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

/** Where container 0's CIRCLECI_GOAT_CONFIG comes from: the task Secret and its key. */
function secretRefOf(pod: V1Pod): { id: string; namespace: string; name: string; key: string } | undefined {
  const c0 = pod.spec?.containers.find((c) => c.name === PRIMARY_CONTAINER);
  const ref = c0?.env?.find((e) => e.name === GOAT_CONFIG_ENV)?.valueFrom?.secretKeyRef;
  const namespace = pod.metadata?.namespace;
  if (!ref?.name || !namespace) return undefined;
  return { id: `${namespace}/${ref.name}`, namespace, name: ref.name, key: ref.key };
}
