// Runs the container runner end to end for tests: the Runner API simulator (playing the
// task agent), and the services as real processes against the test bed, each test isolated
// by its own namespace, bus prefix and Redis key prefix. What `longshore status` says of a
// fleet is the CLI's to tell (it depends on this package): tests call it with `statusArgs`.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type V1Pod, Watch } from '@kubernetes/client-node';
import { type Bus, connectBus } from '@longshore/bus';
import { natsServers } from '@longshore/config';
import { Labels, MANAGED_SELECTOR } from '@longshore/contracts';
import { type RunningSim, SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { readTestbedEnv } from '../env.ts';
import { tempNamespace } from '../namespaces.ts';
import { type ServiceName, type ServiceProcess, spawnService } from '../service-process.ts';
import { waitFor } from '../wait.ts';
import { testKube } from './kube.ts';

export interface ClassSpec {
  token: string;
  spec?: Record<string, unknown>;
  enableUnsafeRetries?: boolean;
  /**
   * false: the simulator knows the class but not its token (it refuses the claimer until
   * a test registers it with `admin.registerClass`). Default true.
   */
  registered?: boolean;
}

export interface FleetOptions {
  classes: Record<string, ClassSpec>;
  maxConcurrentTasks?: number;
  /** Extra agent.* settings. */
  agent?: Record<string, unknown>;
  /** NATS servers instead of the test bed's (e.g. a NatsCluster's `urls`). */
  natsUrls?: readonly string[];
  /** `bus.replicas` for the services and the fleet's own bus (e.g. 3 on a NatsCluster). */
  busReplicas?: number;
  /** A Redis instead of the test bed's (e.g. a RedisFailover's endpoint). */
  redisUrl?: string;
  /**
   * A machine class for the vm-scaler (the config's `provisioner` block): the simulator
   * knows it and the API token, the claimer does not claim from it.
   */
  machineClass?: { name: string; token: string; minReplicas: number; maxReplicas: number };
}

/** Every pod the apiserver held for the fleet's tasks while a pod watch ran. */
export interface PodSightings {
  /** Pod uids seen per task id label: more than one for a task is a duplicate pod. */
  readonly byTask: Map<string, Set<string>>;
  stop(): Promise<void>;
}

export interface CapturedEvent {
  name: string;
  payload: Record<string, unknown>;
  raw: string;
}

export class Fleet {
  readonly id = randomBytes(3).toString('hex');
  readonly kube = testKube();
  readonly events: CapturedEvent[] = [];
  readonly logs: string[] = [];
  readonly procs = new Map<string, ChildProcess>();
  /** The same processes with what they said (their health URL among it), by name. */
  readonly services = new Map<string, ServiceProcess>();
  sim!: RunningSim;
  admin!: SimAdminClient;
  ns!: Awaited<ReturnType<typeof tempNamespace>>;
  bus!: Bus;
  configFile!: string;
  classTokens: string[] = [];
  classNames: string[] = [];
  /** The NATS servers and Redis the fleet uses: the test bed's unless the options said otherwise. */
  natsUrls: string[] = [];
  redisUrl = '';
  #tap?: { stop(): Promise<void> };

  static async start(opts: FleetOptions): Promise<Fleet> {
    const f = new Fleet();
    await f.#start(opts);
    return f;
  }

  get prefix(): string {
    return `e2e${this.id}`;
  }

  async #start(opts: FleetOptions): Promise<void> {
    const env = readTestbedEnv();
    this.natsUrls = [...(opts.natsUrls ?? natsServers(env.NATS_URL))];
    this.redisUrl = opts.redisUrl ?? env.REDIS_URL;
    this.ns = await tempNamespace(this.kube.core, `e2e-${this.id}`);
    // A class the simulator must know without the claimer's token gets one of its own.
    const tokens = Object.fromEntries(
      Object.entries(opts.classes).map(([rc, c]) => [
        rc,
        [c.registered === false ? `sim-only-${randomBytes(8).toString('hex')}` : c.token],
      ]),
    );
    this.classTokens = Object.values(opts.classes).map((c) => c.token);
    this.classNames = Object.keys(opts.classes);
    const machine = opts.machineClass;
    if (machine) tokens[machine.name] = [machine.token];
    this.sim = await startSim({
      classes: tokens,
      apiToken: 'api-token-e2e',
      agent: { kc: this.kube.kc, namespace: this.ns.name },
      // Tests kill runners mid-claim: requeue claims whose answer died with them quickly.
      claimLeaseMs: 5_000,
    });
    this.admin = new SimAdminClient(this.sim.url);
    const cfg = {
      agent: {
        runnerAPI: this.sim.url,
        namespace: this.ns.name,
        maxConcurrentTasks: opts.maxConcurrentTasks ?? 20,
        taskPod: { imagePullTimeout: '2s', unschedulableTimeout: '3s' },
        resourceClasses: Object.fromEntries(
          Object.entries(opts.classes).map(([rc, c]) => [
            rc,
            {
              token: c.token,
              ...(c.spec ? { spec: c.spec } : {}),
              enableUnsafeRetries: c.enableUnsafeRetries ?? false,
            },
          ]),
        ),
        ...opts.agent,
      },
      bus: {
        url: this.natsUrls.join(','),
        prefix: this.prefix,
        ...(opts.busReplicas === undefined ? {} : { replicas: opts.busReplicas }),
      },
      redis: { url: this.redisUrl, keyPrefix: this.prefix },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
      ...(machine
        ? {
            provisioner: {
              circleciAPIAddr: this.sim.url,
              circleToken: 'api-token-e2e',
              namespace: this.ns.name,
              resourceClass: {
                name: machine.name,
                token: machine.token,
                minReplicas: machine.minReplicas,
                maxReplicas: machine.maxReplicas,
              },
            },
          }
        : {}),
    };
    const dir = mkdtempSync(join(tmpdir(), 'longshore-e2e-'));
    this.configFile = join(dir, 'config.yaml');
    writeFileSync(this.configFile, stringify(cfg));
    this.bus = await connectBus({
      servers: this.natsUrls,
      prefix: this.prefix,
      name: `e2e-${this.id}`,
      ...(opts.busReplicas === undefined ? {} : { replicas: opts.busReplicas }),
    });
    await this.bus.ensureStream();
    const sub = this.bus.subscribe('>', (e) => {
      this.events.push({
        name: e.name,
        payload: e.payload as Record<string, unknown>,
        raw: JSON.stringify(e.payload),
      });
    });
    this.#tap = sub;
  }

  /**
   * Starts a service process under a name; stderr/stdout are captured. `extraEnv` is added
   * to its environment (e.g. the AWS SDK's endpoint settings, pointing at a fake).
   */
  spawn(service: ServiceName, name: string = service, extraEnv: Record<string, string> = {}): ChildProcess {
    const p = spawnService(service, {
      configFile: this.configFile,
      kubeconfig: readTestbedEnv().KUBECONFIG,
      label: name,
      env: {
        LONGSHORE__agent__name: `${name}-${this.id}`,
        LONGSHORE_INSTANCE: `${name}-${this.id}`,
        ...extraEnv,
      },
      onLine: (line) => this.logs.push(`${name}: ${line}`),
    });
    this.procs.set(name, p.child);
    this.services.set(name, p);
    return p.child;
  }

  /** Enqueues `perClass` tasks with this image on every class of the fleet; their ids, class by class. */
  async enqueueEach(perClass: number, image: string): Promise<string[]> {
    const ids: string[] = [];
    for (const rc of this.classNames)
      ids.push(...(await this.admin.enqueueMany({ resource_class: rc, image }, perClass)));
    return ids;
  }

  exited(name: string): Promise<number | null> {
    const c = this.procs.get(name);
    if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c?.exitCode ?? null);
    return new Promise((resolve) => c.once('exit', (code) => resolve(code)));
  }

  kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const done = this.exited(name);
    this.procs.get(name)?.kill(signal);
    return done;
  }

  events$(name: string): CapturedEvent[] {
    return this.events.filter((e) => e.name === name);
  }

  /** Polls `probe` (see waitFor); a timeout shows the fleet's last log lines. */
  waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined | false> | T | undefined | false,
    timeoutMs = 60_000,
  ): Promise<T> {
    return waitFor(what, probe, {
      timeoutMs,
      intervalMs: 200,
      detail: () => this.logs.slice(-30).join('\n'),
    });
  }

  async waitForTasksEnded(ids: string[], timeoutMs = 90_000) {
    let unfinished: unknown[] = [];
    try {
      return await this.waitFor(
        `${ids.length} tasks to end`,
        async () => {
          const tasks = await Promise.all(ids.map((id) => this.admin.task(id)));
          unfinished = tasks.filter((t) => !['completed', 'failed', 'cancelled'].includes(t.state));
          return unfinished.length === 0 ? tasks : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      const detail = unfinished.map((t) => JSON.stringify(t)).join('\n');
      throw new Error(`${(err as Error).message}\nunfinished tasks:\n${detail}`, { cause: err });
    }
  }

  /**
   * Every task completed, with one effective claim (a claim whose answer was lost is
   * requeued by the API's claim lease: no runner held it) and one pod while `pods` watched
   * (stopped here); no task pod or Secret is left.
   */
  async expectEachRanOnce(ids: readonly string[], pods: PodSightings, timeoutMs = 120_000): Promise<void> {
    const tasks = await this.waitForTasksEnded([...ids], timeoutMs);
    expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
    const effective = (t: (typeof tasks)[number]) =>
      t.history.filter((e) => e.type === 'claimed').length -
      t.history.filter((e) => e.type === 'claim-expired').length;
    expect(tasks.map(effective)).toEqual(ids.map(() => 1));
    await this.waitFor('no task pod or Secret left', async () => {
      const o = await this.taskObjects();
      return o.pods.length + o.secrets.length === 0 ? true : undefined;
    });
    await pods.stop();
    expect(ids.map((id) => pods.byTask.get(id)?.size ?? 0)).toEqual(ids.map(() => 1));
  }

  /** The task pods and Secrets in the fleet's namespace (not a VM pool's cloud-init Secret). */
  async taskObjects(): Promise<{ pods: string[]; secrets: string[] }> {
    const { core } = this.kube;
    const labelSelector = `${MANAGED_SELECTOR},${Labels.taskId}`;
    const pods = await core.listNamespacedPod({ namespace: this.ns.name, labelSelector });
    const secrets = await core.listNamespacedSecret({ namespace: this.ns.name, labelSelector });
    return {
      pods: pods.items.map((p) => p.metadata!.name!),
      secrets: secrets.items.map((s) => s.metadata!.name!),
    };
  }

  /**
   * Watches the fleet's task pods in the apiserver and records every pod's uid by task, so
   * a pod created twice for one task shows even after both are gone. A watch the apiserver
   * ends is started again (it lists what exists first, so only a pod born and deleted in
   * that gap could be missed).
   */
  watchPods(): PodSightings {
    const byTask = new Map<string, Set<string>>();
    let stopped = false;
    let current: AbortController | undefined;
    const path = `/api/v1/namespaces/${this.ns.name}/pods`;
    const again = () => {
      if (!stopped) setTimeout(() => void start(), 200);
    };
    const start = async (): Promise<void> => {
      if (stopped) return;
      try {
        current = await new Watch(this.kube.kc).watch(
          path,
          { labelSelector: MANAGED_SELECTOR },
          (_phase, pod: V1Pod) => {
            const task = pod.metadata?.labels?.[Labels.taskId];
            const uid = pod.metadata?.uid;
            if (task === undefined || uid === undefined) return;
            const uids = byTask.get(task) ?? new Set<string>();
            uids.add(uid);
            byTask.set(task, uids);
          },
          again,
        );
        if (stopped) current.abort();
      } catch {
        again();
      }
    };
    const started = start();
    return {
      byTask,
      stop: async () => {
        stopped = true;
        await started;
        current?.abort();
      },
    };
  }

  /** Claim records and task tokens left in this fleet's ledger (0 when every claim is closed). */
  async openClaims(): Promise<number> {
    const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const claims = await redis.keys(`${this.prefix}:claim:*`);
      const tokens = await redis.keys(`${this.prefix}:token:*`);
      return claims.length + tokens.length;
    } finally {
      redis.disconnect();
    }
  }

  /**
   * Task tokens seen in the ledger while the watch runs, to look for them in logs and on the
   * bus afterwards (expectNoSecrets).
   */
  watchTaskTokens(): { seen: Set<string>; stop(): Promise<void> } {
    // A Redis that fails over drops the connection: wait for the new one rather than fail.
    const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    const seen = new Set<string>();
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const keys = await redis.keys(`${this.prefix}:token:*`);
        for (const v of keys.length > 0 ? await redis.mget(...keys) : []) if (v) seen.add(v);
        await sleep(100);
      }
    })();
    return {
      seen,
      stop: async () => {
        stopped = true;
        await loop;
        redis.disconnect();
      },
    };
  }

  /** The options of `longshore status --json` that show this fleet's classes (CLI's `status`). */
  statusArgs(): { json: true; natsUrl: string; redisUrl: string; prefix: string } {
    return { json: true, natsUrl: this.natsUrls.join(','), redisUrl: this.redisUrl, prefix: this.prefix };
  }

  /**
   * No token (task tokens given, resource class tokens from the fleet) in any log line or
   * bus message, nor in `elsewhere` (e.g. what `longshore status` printed).
   */
  expectNoSecrets(tokens: Iterable<string>, elsewhere: readonly string[] = []): void {
    const all = [...tokens, ...this.classTokens];
    const logs = this.logs.join('\n');
    const bus = this.events.map((e) => e.raw).join('\n');
    const other = elsewhere.join('\n');
    for (const t of all) {
      expect(logs.includes(t), 'a token in the logs').toBe(false);
      expect(bus.includes(t), 'a token on the bus').toBe(false);
      expect(other.includes(t), 'a token in what else was shown').toBe(false);
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.procs.keys()].map((n) => this.kill(n)));
    await this.#tap?.stop();
    await this.bus?.close().catch(() => {});
    await this.sim?.close().catch(() => {});
    await this.ns?.cleanup();
  }
}
