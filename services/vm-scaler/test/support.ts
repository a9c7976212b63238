// Shared helpers of the vm-scaler integration tests: a world per test with its own
// Kubernetes namespace, bus prefix and Runner API simulator, the scaler started against
// them, and cleanup that removes it all (the test bed has no controller-manager, so the
// namespace's objects are deleted by hand before the namespace is finalized).
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { type Bus, connectBus } from '@longshore/bus';
import { LongshoreConfig, parseConfig } from '@longshore/config';
import { ClaimResponse, RunnerApiPaths, streamName } from '@longshore/contracts';
import { kubeClients } from '@longshore/kube';
import { createLogger, SecretScrubber } from '@longshore/logging';
import { type RunningSim, SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { createMetricsRegistry } from '@longshore/runtime';
import { eventually, tempNamespace, testKube } from '@longshore/testbed/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import {
  KubePoolScaler,
  POOL_API,
  type PoolRef,
  type PoolScaler,
  type PoolSize,
  type PoolTarget,
  poolTargetFor,
  startVmScaler,
  type VmScaler,
  type VmScalerDeps,
} from '../src/index.ts';

export const API_TOKEN = 'circle-api-token-0123456789';
export const tokenOf = (rc: string) => `rc-token-${rc.replace(/\W/g, '-')}-0123456789`;

/** Lines a logger wrote, parsed. */
export class LogLines {
  readonly records: Record<string, unknown>[] = [];
  readonly text: string[] = [];
  readonly stream = new Writable({
    write: (chunk, _enc, done) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        this.text.push(line);
        this.records.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });

  withMsg(msg: string): Record<string, unknown>[] {
    return this.records.filter((r) => r.msg === msg);
  }
}

/** A PoolScaler decorator that counts the requests that reach the apiserver. */
export class CountingPoolScaler implements PoolScaler {
  readonly #inner: PoolScaler;
  reads = 0;
  readonly sets: { pool: string; replicas: number }[] = [];

  constructor(inner: PoolScaler) {
    this.#inner = inner;
  }

  size(pool: PoolRef): Promise<PoolSize> {
    this.reads++;
    return this.#inner.size(pool);
  }

  setReplicas(pool: PoolRef, replicas: number): Promise<void> {
    this.sets.push({ pool: pool.name, replicas });
    return this.#inner.setReplicas(pool, replicas);
  }
}

export interface ClassSpec {
  name: string;
  min?: number;
  max?: number;
  idleTimeout?: string;
  /** The VM spec as YAML flow text. */
  spec?: string;
}

/** One test's namespace, bus prefix and simulator, and the scaler(s) it starts. */
export class ScalerWorld {
  readonly kube = testKube();
  readonly custom = this.kube.kc.makeApiClient(CustomObjectsApi);
  readonly prefix = `vms${randomBytes(4).toString('hex')}`;
  readonly log = new LogLines();
  readonly scrubber = new SecretScrubber();
  readonly logger = createLogger({
    name: 'vm-scaler',
    destination: this.log.stream,
    scrubber: this.scrubber,
  });
  namespace = '';
  sim!: RunningSim;
  admin!: SimAdminClient;
  bus!: Bus;
  registry!: Registry;
  scaler: VmScaler | undefined;
  readonly #cleanups: (() => Promise<unknown>)[] = [];

  async setup(stem: string, classes: readonly ClassSpec[]): Promise<this> {
    const ns = await tempNamespace(this.kube.core, stem);
    this.namespace = ns.name;
    this.#cleanups.push(async () => {
      // No controller-manager: delete what we created, then let the namespace go.
      await this.custom
        .deleteCollectionNamespacedCustomObject({ ...poolApi(), namespace: ns.name })
        .catch(() => undefined);
      await ns.cleanup();
    });
    this.sim = await startSim({
      classes: Object.fromEntries(classes.map((c) => [c.name, [tokenOf(c.name)]])),
      apiToken: API_TOKEN,
    });
    this.#cleanups.push(() => this.sim.close());
    this.admin = new SimAdminClient(this.sim.url);
    const natsUrl = process.env.NATS_URL;
    if (!natsUrl) throw new Error('NATS_URL is not set: the integration global setup provides it');
    this.bus = await connectBus({
      servers: natsUrl,
      prefix: this.prefix,
      name: 'vm-scaler-test',
      logger: this.logger,
    });
    this.#cleanups.push(() => this.#dropStream(natsUrl));
    this.#cleanups.push(() => this.bus.close({ graceMs: 1_000 }));
    return this;
  }

  /** The scaler's configuration for these classes, as a user would write it. */
  configYaml(classes: readonly ClassSpec[], extra = ''): string {
    const entry = (c: ClassSpec) =>
      `{name: ${c.name}, token: ${tokenOf(c.name)}, minReplicas: ${c.min ?? 0}, maxReplicas: ${c.max ?? 5}` +
      `${c.idleTimeout ? `, idleTimeout: ${c.idleTimeout}` : ''}${c.spec ? `, spec: ${c.spec}` : ''}}`;
    const [first, ...rest] = classes;
    return [
      'provisioner:',
      `  circleciAPIAddr: ${this.sim.url}`,
      `  circleToken: ${API_TOKEN}`,
      `  namespace: ${this.namespace}`,
      '  pollInterval: 200ms',
      ...(first ? [`  resourceClass: ${entry(first)}`] : []),
      ...(rest.length > 0 ? ['  resourceClasses:', ...rest.map((c) => `    - ${entry(c)}`)] : []),
      extra,
    ].join('\n');
  }

  config(yaml: string): LongshoreConfig {
    return parseConfig({ schema: LongshoreConfig, text: yaml, source: 'test-values.yaml', env: {} });
  }

  /** Starts the scaler; it is stopped at teardown. */
  async start(yaml: string, overrides: Partial<VmScalerDeps> = {}): Promise<VmScaler> {
    this.registry = createMetricsRegistry('vm-scaler');
    const scaler = await startVmScaler({
      config: this.config(yaml),
      kube: kubeClients(this.kube.kc),
      bus: this.bus,
      logger: this.logger,
      scrubber: this.scrubber,
      registry: this.registry,
      configSource: 'test-values.yaml',
      ...overrides,
    });
    this.scaler = scaler;
    this.#cleanups.push(() => scaler.stop());
    return scaler;
  }

  counting(): CountingPoolScaler {
    return new CountingPoolScaler(new KubePoolScaler(kubeClients(this.kube.kc).custom));
  }

  poolRef(resourceClass: string): PoolTarget {
    return poolTargetFor(resourceClass, this.namespace);
  }

  /** The pool as stored in the apiserver. */
  async pool(resourceClass: string): Promise<StoredPool> {
    return (await this.custom.getNamespacedCustomObject({
      ...poolApi(),
      namespace: this.namespace,
      name: this.poolRef(resourceClass).name,
    })) as StoredPool;
  }

  async replicas(resourceClass: string): Promise<number | undefined> {
    return (await this.pool(resourceClass)).spec.replicas;
  }

  /** How many times the simulator has been asked for unclaimed counts (one per poll and class). */
  async unclaimedPolls(): Promise<number> {
    const stats = await this.admin.stats();
    return Object.values(stats.requests.unclaimedCount ?? {}).reduce((a, b) => a + b, 0);
  }

  /**
   * Waits until `polls` more polls have started. Polls of a class run one after another,
   * so once the second poll after a change has started, the first poll to see the change
   * has finished, scaling included; one more covers a poll that was in flight at the change.
   */
  async afterPolls(polls = 3, classes = 1): Promise<void> {
    const start = await this.unclaimedPolls();
    await eventually(async () => {
      if ((await this.unclaimedPolls()) < start + polls * classes) throw new Error('waiting for polls');
    }, 20_000);
  }

  /** Claims `n` tasks of a class over HTTP, as machine runners would, making them "running". */
  async claim(resourceClass: string, n: number): Promise<ClaimResponse[]> {
    const out: ClaimResponse[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${this.sim.url}${RunnerApiPaths.claim}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokenOf(resourceClass)}` },
        body: JSON.stringify({ name: `vm-${i}`, hostname: `vm-${i}`, ip: '10.0.0.1', version: '3.0.0' }),
      });
      if (res.status !== 200) throw new Error(`claim answered ${res.status}`);
      out.push(ClaimResponse.parse(await res.json()));
    }
    return out;
  }

  /** Finishes claimed tasks, as the runners in the VMs would when their job ends. */
  async finish(claims: readonly ClaimResponse[]): Promise<void> {
    for (const c of claims) {
      const res = await fetch(`${this.sim.url}${RunnerApiPaths.taskConfig}`, {
        headers: { authorization: `Bearer ${c.task_token}` },
      });
      const { task_id } = (await res.json()) as { task_id: string };
      await this.admin.report(task_id, c.task_token, 'succeeded');
    }
  }

  async enqueue(resourceClass: string, n: number): Promise<string[]> {
    return this.admin.enqueueMany({ resource_class: resourceClass, image: 'cimg/base:current' }, n);
  }

  async teardown(): Promise<void> {
    for (const c of this.#cleanups.splice(0).reverse()) await c().catch(() => undefined);
  }

  async #dropStream(natsUrl: string): Promise<void> {
    const nc = await connect({ servers: natsUrl });
    try {
      await (await jetstreamManager(nc)).streams.delete(streamName(this.prefix)).catch(() => undefined);
    } finally {
      await nc.close();
    }
  }
}

export interface StoredPool {
  metadata: { name: string; generation: number; resourceVersion: string; labels: Record<string, string> };
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    virtualMachineTemplate: {
      metadata: { labels: Record<string, string> };
      spec: {
        runStrategy: string;
        template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
      };
    };
  } & Record<string, unknown>;
}

export function poolApi() {
  const { group, version, plural } = POOL_API;
  return { group, version, plural };
}
