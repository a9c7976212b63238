// The vm-scaler assembled: configuration -> pools and Secrets applied -> one scaling loop
// per resource class, plus a sweeper that removes VMs whose single run is over.
//
//   Runner API counts -> ScalerLoop (desiredReplicas) -> pool scale subresource
//                                 \-> log line + scaler.decision on the bus
//   finished VMIs -> VmReaper -> VM deleted -> the pool replaces it (or not, on scale-in)
//
// startVmScaler is what main.ts (its own process) and the main job (in-process) call. With
// replicas, main.ts runs it only on the holder of the `vm-scaler` lease: two scalers would
// poll the Runner API twice and both set the pools' sizes and publish decisions. The pools'
// state is the cluster's, so a replica that takes over starts from what is there.
import type { Bus } from '@longshore/bus';
import {
  ConfigError,
  type LongshoreConfig,
  type ProvisionerSecret,
  parseProvisionerSecret,
} from '@longshore/config';
import { type ScalerDecision, Subjects } from '@longshore/contracts';
import { type KubeClients, kubeErrorMessage } from '@longshore/kube';
import type { Logger, SecretScrubber } from '@longshore/logging';
import { retryUntilAvailable, runnerApiMetrics } from '@longshore/runtime';
import { describeKubeError, isKubeUnavailable, ownNamespace, readSecretData } from '@longshore/runtime/kube';
import type { Registry } from 'prom-client';
import { renderRunnerInit } from './cloud-init.ts';
import { errFields } from './log-fields.ts';
import { createScalerMetrics } from './metrics.ts';
import { KubePoolApplier, type PoolApplier, PoolApplyError } from './pool-applier.ts';
import { KubePoolScaler, type PoolScaler } from './pool-scaler.ts';
import { HttpRunnerQueue, type RunnerQueue } from './runner-queue.ts';
import {
  type PlannedClass,
  planVmScaler,
  provisionerOf,
  targetNamespace,
  type VmScalerPlan,
} from './scaler-config.ts';
import { type LoopHealth, ScalerLoop } from './scaler-loop.ts';
import { buildCloudInitSecret, buildVmPool } from './vm-pool.ts';
import { KubeVmInventory, type VmInventory, VmReaper } from './vm-reaper.ts';

export interface VmScalerDeps {
  readonly config: LongshoreConfig;
  readonly kube: KubeClients;
  /** Where decisions are published (Subjects.scalerDecision). */
  readonly bus: Bus;
  readonly logger: Logger;
  /** Every token the scaler learns (from the config or the existing Secret) is registered here. */
  readonly scrubber: SecretScrubber;
  readonly registry: Registry;
  /** Named in configuration errors: the config file path. */
  readonly configSource?: string;
  /** Replacements for the adapters, e.g. to wrap one (the defaults talk HTTP and Kubernetes). */
  readonly runnerQueue?: RunnerQueue;
  readonly poolScaler?: PoolScaler;
  readonly vmInventory?: VmInventory;
  /** Aborted when this replica must stop scaling (its lease was lost): a start gives up. */
  readonly signal?: AbortSignal;
}

/** One class's pool, as running. No tokens. */
export interface ScaledPool {
  readonly resourceClass: string;
  readonly namespace: string;
  readonly pool: string;
  readonly secret: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
}

export interface VmScaler {
  readonly pools: readonly ScaledPool[];
  readonly pollIntervalMs: number;
  /** Every class has completed a cycle recently (see README, "Health"). */
  ready(): boolean;
  health(): ReadonlyMap<string, LoopHealth>;
  /** Stops the loops, waits for pending publishes, forgets the tokens. Idempotent. */
  stop(): Promise<void>;
}

/** Setting up a class's pool failed at start (the apiserver refused, KubeVirt is missing, ...). */
export class VmScalerStartError extends Error {
  override readonly name = 'VmScalerStartError';
}

const REAP_INTERVAL_MS = 5_000;
/** A class whose last good cycle is older than this many intervals (and at least a minute) is not ready. */
const READY_STALE_INTERVALS = 10;

export async function startVmScaler(deps: VmScalerDeps): Promise<VmScaler> {
  const { config, kube, bus, logger, scrubber, registry, signal } = deps;
  const source = deps.configSource ?? '<configuration>';
  const p = provisionerOf(config, source);
  const namespace = targetNamespace(config, ownNamespace(kube.kc));
  const secret =
    p.existingSecret === undefined
      ? undefined
      : await readExistingSecret(deps, namespace, p.existingSecret, source);
  const plan = planVmScaler(config, { fallbackNamespace: namespace, source, ...(secret ? { secret } : {}) });
  const tokens = [plan.circleToken, ...plan.classes.map((c) => c.token)].filter((t) => scrubber.add(t));

  const metrics = createScalerMetrics(registry);
  const applier = new KubePoolApplier(kube);
  const queue =
    deps.runnerQueue ??
    new HttpRunnerQueue({
      baseUrl: plan.apiUrl,
      token: plan.circleToken,
      observe: runnerApiMetrics(registry, 'vm-scaler'),
    });
  const scaler = deps.poolScaler ?? new KubePoolScaler(kube.custom);
  const inventory = deps.vmInventory ?? new KubeVmInventory(kube.custom);
  const publisher = new DecisionPublisher(bus, logger, metrics);
  const loops = new Map<string, ScalerLoop>();
  const reaper = new VmReaper({
    inventory,
    namespace: plan.namespace,
    logger,
    metrics,
    intervalMs: REAP_INTERVAL_MS,
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.allSettled([...[...loops.values()].map((l) => l.stop()), reaper.stop()]);
      await publisher.drain();
      for (const t of tokens) scrubber.delete(t);
    })();
    return stopping;
  };

  try {
    // An unreachable apiserver or NATS is waited for; an answer such as 403, 404 (KubeVirt
    // is not installed) or 422 (the VM spec is invalid) stops the start.
    await retryUntilAvailable(`JetStream stream ${bus.stream}`, () => bus.ensureStream(), { logger, signal });
    for (const c of plan.classes)
      await retryUntilAvailable(
        `the apiserver (VirtualMachinePool of resource class ${c.name})`,
        () => applyClass(applier, plan, c, logger),
        {
          logger,
          signal,
          isFatal: (err) => !apiserverUnavailable(err),
          describe: (err) => describeKubeError(rootOf(err)),
        },
      );
  } catch (err) {
    await stop();
    throw err;
  }
  for (const c of plan.classes) {
    const loop = new ScalerLoop({
      cls: { resourceClass: c.name, minReplicas: c.minReplicas, maxReplicas: c.maxReplicas, pool: c.target },
      queue,
      scaler,
      logger,
      metrics,
      publish: (d, msgId) => publisher.publish(d, msgId),
      intervalMs: plan.pollIntervalMs,
      recreatePool: () => applyClass(applier, plan, c, logger),
    });
    loops.set(c.name, loop);
    loop.start();
  }
  reaper.start();
  logger.info(
    {
      namespace: plan.namespace,
      classes: plan.classes.map((c) => c.name),
      poll_interval_ms: plan.pollIntervalMs,
    },
    'vm-scaler started',
  );

  const staleMs = Math.max(60_000, READY_STALE_INTERVALS * plan.pollIntervalMs);
  return {
    pools: plan.classes.map((c) => ({
      resourceClass: c.name,
      namespace: c.target.namespace,
      pool: c.target.name,
      secret: c.target.secretName,
      minReplicas: c.minReplicas,
      maxReplicas: c.maxReplicas,
    })),
    pollIntervalMs: plan.pollIntervalMs,
    ready: () =>
      stopping === undefined &&
      [...loops.values()].every((l) => {
        const at = l.health.lastSuccessAt;
        return at !== undefined && Date.now() - at <= staleMs;
      }),
    health: () => new Map([...loops].map(([name, l]) => [name, l.health])),
    stop,
  };
}

/** The Kubernetes error under a VmScalerStartError's PoolApplyError. */
function rootOf(err: unknown): unknown {
  const applyErr = err instanceof VmScalerStartError ? err.cause : err;
  return applyErr instanceof PoolApplyError && applyErr.cause !== undefined ? applyErr.cause : applyErr;
}

/** Setting up a pool failed for want of an answer, not because of one (or of a pool that is not ours). */
function apiserverUnavailable(err: unknown): boolean {
  const applyErr = err instanceof VmScalerStartError ? err.cause : err;
  return applyErr instanceof PoolApplyError && applyErr.kind === 'api' && isKubeUnavailable(applyErr.cause);
}

/** Creates or updates a class's Secret (user data first: the pool's VMs boot from it) and pool. */
async function applyClass(
  applier: PoolApplier,
  plan: VmScalerPlan,
  c: PlannedClass,
  logger: Logger,
): Promise<void> {
  const userData = renderRunnerInit({ token: c.token, apiUrl: plan.apiUrl, idleTimeoutMs: c.idleTimeout });
  const where = `resource class ${c.name} (${c.target.namespace}/${c.target.name})`;
  try {
    const secret = await applier.applySecret(buildCloudInitSecret(c, c.target, userData));
    const pool = await applier.applyPool(buildVmPool(c, c.target, { replicas: c.minReplicas }));
    logger.info(
      {
        resource_class: c.name,
        namespace: c.target.namespace,
        pool: c.target.name,
        pool_change: pool,
        secret_change: secret,
      },
      'VirtualMachinePool applied',
    );
  } catch (err) {
    throw new VmScalerStartError(
      `cannot set up the VirtualMachinePool of ${where}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Reads provisioner.existingSecret (seed 002: keys circle-token and config.yaml). */
async function readExistingSecret(
  deps: VmScalerDeps,
  namespace: string,
  name: string,
  source: string,
): Promise<ProvisionerSecret> {
  const issue = (message: string) => [{ path: 'provisioner.existingSecret', message }];
  let data: Record<string, string> | undefined;
  try {
    data = await readSecretData(deps.kube.core, namespace, name, {
      what: `Secret ${namespace}/${name} (provisioner.existingSecret)`,
      logger: deps.logger,
      signal: deps.signal,
    });
  } catch (err) {
    throw new ConfigError(
      source,
      issue(`cannot read Secret ${namespace}/${name}: ${kubeErrorMessage(err)}`),
      {
        cause: err,
      },
    );
  }
  if (data === undefined) throw new ConfigError(source, issue(`Secret ${namespace}/${name} not found`));
  return parseProvisionerSecret(data, `${namespace}/${name}`);
}

/**
 * Publishes decisions without holding up the loops. A publish failure is counted; it is
 * logged when publishing starts failing and when it works again, not once per decision.
 */
class DecisionPublisher {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #metrics: ReturnType<typeof createScalerMetrics>;
  readonly #pending = new Set<Promise<void>>();
  #failing = false;

  constructor(bus: Bus, logger: Logger, metrics: ReturnType<typeof createScalerMetrics>) {
    this.#bus = bus;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  publish(decision: ScalerDecision, msgId: string): void {
    const p = this.#bus.publish(Subjects.scalerDecision, decision, { msgId }).then(
      () => {
        if (this.#failing) this.#logger.info({}, 'publishing scaler decisions works again');
        this.#failing = false;
      },
      (err: unknown) => {
        this.#metrics.errors.inc({ resource_class: decision.resource_class, kind: 'publish' });
        if (!this.#failing)
          this.#logger.warn(errFields(err), 'failed to publish a scaler decision; will keep trying');
        this.#failing = true;
      },
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}
