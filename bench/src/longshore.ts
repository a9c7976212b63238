// Longshore end to end: the Runner API simulator (in this process, playing the in-pod task
// agent) and the five services as their own processes, each as its own bench user. Stage
// times come from outside the services: `queued` from the simulator's task history,
// claimed / pod created / running / ended from the events on the bus (their `at`), and
// cleaned up from this process's own watch of the task Pods and Secrets.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubeConfig, makeInformer, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { type Bus, connectBus, type SubscriptionHandle } from '@longshore/bus';
import { Annotations, MANAGED_SELECTOR, taskObjectName } from '@longshore/contracts';
import { type RunningSim, SimAdminClient, type SimStats, startSim } from '@longshore/runner-api-sim';
import { stringify } from 'yaml';
import type { AuditLog } from './audit.ts';
import { type ProcStats, SERVICES, type ServiceName, ServiceProcs } from './procs.ts';
import { type Percentiles, percentiles, sustainedRate } from './stats.ts';

export const MACHINE_CLASS = 'bench/machine';

export interface FleetOptions {
  runId: string;
  namespace: string;
  classes: string[];
  concurrency: number;
  natsUrl: string;
  redisUrl: string;
  /** Admin: the simulator's agent watch and the cleanup watch (not counted). */
  adminKc: KubeConfig;
  /** Service -> its bench user's kubeconfig file. */
  kubeconfigs: Record<ServiceName, string>;
  dir: string;
  logDir: string;
  pollInterval?: string;
  /** Processes per service (default 1): `{ claimer: 2, scheduler: 2 }` for the replicas phase. */
  replicas?: Partial<Record<ServiceName, number>>;
  /** Machine classes the vm-scaler provisions (default 1, MACHINE_CLASS). */
  machineClasses?: number;
  /** agent.idleWait as `<first>:<max>` (e.g. `100ms:1s`); unset = the config's default. */
  idleWait?: string;
  /** Log files are `<logDir>/bench-<label>-<instance>.log`; default `bench-<instance>.log`. */
  label?: string;
}

interface TaskTimes {
  queued?: number;
  /** The claimer fetched the task config (simulator history): part of claimed -> pod created. */
  configFetched?: number;
  claimed?: number;
  scheduled?: number;
  running?: number;
  ended?: number;
  outcome?: string;
  claims: number;
  podGone?: number;
  secretGone?: number;
  /** The uids of the pods the watch saw for this task: more than one is a duplicate pod. */
  pods?: Set<string>;
}

export const STAGES = [
  ['queued', 'claimed'],
  ['queued', 'running'],
  ['claimed', 'scheduled'],
  ['claimed', 'configFetched'],
  ['configFetched', 'scheduled'],
  ['scheduled', 'running'],
  ['running', 'ended'],
  ['ended', 'cleaned'],
  ['claimed', 'cleaned'],
  ['queued', 'cleaned'],
] as const;
export const STAGE_LABEL: Record<string, string> = {
  queued: 'queued',
  claimed: 'claimed',
  scheduled: 'pod created',
  configFetched: '(task config fetched)',
  running: 'running',
  ended: 'ended',
  cleaned: 'cleaned up',
};

export interface LoadResult {
  tasks: number;
  completed: number;
  /** Tasks claimed more than once: should be 0. */
  duplicated: number;
  /** Tasks that had more than one pod (all tasks succeed at their first attempt): should be 0. */
  duplicatePods: number;
  lost: number;
  elapsedMs: number;
  tasksPerSecond: number | undefined;
  stages: Record<string, Percentiles | undefined>;
  runnerApi: { perTask: number; byEndpoint: Record<string, number> };
  kubeRequests: AuditWindow;
}

export interface AuditWindow {
  requests: import('./audit.ts').AuditRequest[];
}

export class LongshoreFleet {
  readonly o: FleetOptions;
  readonly procs: ServiceProcs;
  sim!: RunningSim;
  admin!: SimAdminClient;
  bus!: Bus;
  readonly times = new Map<string, TaskTimes>();
  readonly decisions: { at: number; resourceClass: string; scaled: boolean; desired: number }[] = [];
  readonly #byObject = new Map<string, string>();
  #tap?: SubscriptionHandle;
  #informers: { stop(): Promise<void> }[] = [];
  readonly tokens: Record<string, string> = {};
  readonly apiToken = randomBytes(16).toString('hex');
  /** The vm-scaler's classes: MACHINE_CLASS alone, or `bench/machine<i>` for several. */
  readonly machineClasses: string[];

  constructor(o: FleetOptions) {
    this.o = o;
    this.procs = new ServiceProcs(o.logDir, o.label ? `bench-${o.label}-` : 'bench-');
    const n = o.machineClasses ?? 1;
    this.machineClasses =
      n === 1 ? [MACHINE_CLASS] : Array.from({ length: n }, (_, i) => `${MACHINE_CLASS}${i}`);
  }

  async start(): Promise<void> {
    const { o } = this;
    for (const rc of [...o.classes, ...this.machineClasses])
      this.tokens[rc] = randomBytes(16).toString('hex');
    this.sim = await startSim({
      classes: Object.fromEntries(Object.entries(this.tokens).map(([rc, t]) => [rc, [t]])),
      apiToken: this.apiToken,
      agent: { kc: o.adminKc, namespace: o.namespace },
    });
    this.admin = new SimAdminClient(this.sim.url);
    const prefix = `bench${o.runId}`;
    const configFile = join(o.dir, 'config.yaml');
    writeFileSync(configFile, stringify(this.config(prefix)), { mode: 0o600 });

    this.bus = await connectBus({ servers: o.natsUrl, prefix, name: `bench-${o.runId}` });
    await this.bus.ensureStream();
    this.#tap = this.bus.subscribe('>', (e) => this.#onEvent(e.name, e.payload as Record<string, unknown>));
    await this.#watchCleanup();
    for (const svc of SERVICES) {
      const n = o.replicas?.[svc] ?? 1;
      for (let i = 1; i <= n; i++) {
        const instance = n === 1 ? svc : `${svc}-${i}`;
        this.procs.start(
          svc,
          configFile,
          o.kubeconfigs[svc],
          { LONGSHORE__agent__name: `bench-${o.runId}`, LONGSHORE_INSTANCE: `${instance}-bench-${o.runId}` },
          instance,
        );
      }
    }
    await this.procs.ready();
  }

  config(prefix: string): Record<string, unknown> {
    const { o } = this;
    const machine = (name: string) => ({ name, token: this.tokens[name], minReplicas: 0, maxReplicas: 100 });
    const [first, max] = o.idleWait?.split(':') ?? [];
    return {
      agent: {
        runnerAPI: this.sim.url,
        namespace: o.namespace,
        maxConcurrentTasks: o.concurrency,
        // The fate images are not in any registry: looking their platforms up would only fail.
        autodetectPlatform: false,
        terminationGracePeriodSeconds: 15,
        constraintChecker: { enable: true },
        resourceClasses: Object.fromEntries(o.classes.map((rc) => [rc, { token: this.tokens[rc] }])),
        ...(first && max ? { idleWait: { first, max } } : {}),
      },
      provisioner: {
        circleciAPIAddr: this.sim.url,
        circleToken: this.apiToken,
        namespace: o.namespace,
        pollInterval: o.pollInterval ?? '1s',
        // One class as seed 002 writes it; several as the list (a Longshore extension).
        ...(this.machineClasses.length === 1
          ? { resourceClass: machine(MACHINE_CLASS) }
          : { resourceClasses: this.machineClasses.map(machine) }),
      },
      bus: { url: o.natsUrl, prefix },
      redis: { url: o.redisUrl, keyPrefix: prefix },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    };
  }

  #task(id: string): TaskTimes {
    let t = this.times.get(id);
    if (!t) {
      t = { claims: 0 };
      this.times.set(id, t);
    }
    return t;
  }

  #onEvent(name: string, p: Record<string, unknown>): void {
    const at = Date.parse(String(p.at));
    if (name === 'scaler.decision') {
      this.decisions.push({
        at,
        resourceClass: String(p.resource_class),
        scaled: p.scaled === true,
        desired: Number(p.desired_vms),
      });
      return;
    }
    const id = typeof p.task_id === 'string' ? p.task_id : undefined;
    if (!id) return;
    const t = this.#task(id);
    // Core subscribers see a repeated publish too (JetStream drops it from the stream only):
    // the first of each kind counts; a second claim is a different allocation.
    if (name === 'task.claimed') {
      if (t.claimed === undefined || p.allocation !== (t as { allocation?: unknown }).allocation) t.claims++;
      (t as { allocation?: unknown }).allocation = p.allocation;
      t.claimed ??= at;
      this.#byObject.set(taskObjectName(id, Number(p.attempt)), id);
    } else if (name === 'task.scheduled') t.scheduled ??= at;
    else if (name === 'task.running') t.running ??= at;
    else if (name === 'task.reported' || name === 'task.failed' || name === 'task.interrupted') {
      t.ended ??= at;
      t.outcome ??= name.slice(5);
    }
  }

  async #watchCleanup(): Promise<void> {
    const { adminKc: kc, namespace: ns } = this.o;
    const core = kc.makeApiClient(CoreV1Api);
    const gone = (kind: 'podGone' | 'secretGone') => (obj: V1Pod | V1Secret) => {
      const id = this.#byObject.get(obj.metadata?.name ?? '');
      if (id) this.#task(id)[kind] ??= Date.now();
    };
    const list = { namespace: ns, labelSelector: MANAGED_SELECTOR };
    const pods = makeInformer<V1Pod>(
      kc,
      `/api/v1/namespaces/${ns}/pods`,
      () => core.listNamespacedPod(list),
      MANAGED_SELECTOR,
    );
    const secrets = makeInformer<V1Secret>(
      kc,
      `/api/v1/namespaces/${ns}/secrets`,
      () => core.listNamespacedSecret(list),
      MANAGED_SELECTOR,
    );
    pods.on('add', (pod) => {
      const id = pod.metadata?.annotations?.[Annotations.taskId];
      if (!id || !pod.metadata?.uid) return;
      const t = this.#task(id);
      t.pods ??= new Set();
      t.pods.add(pod.metadata.uid);
    });
    pods.on('delete', gone('podGone'));
    secrets.on('delete', gone('secretGone'));
    for (const i of [pods, secrets]) {
      i.on('error', () => setTimeout(() => void i.start().catch(() => {}), 500));
      await i.start();
      this.#informers.push(i);
    }
  }

  /**
   * Queues `tasks` tasks over the classes, all at once (rate undefined) or at `rate` per
   * second, and waits until each has ended and its Pod and Secret are gone.
   */
  async runLoad(opts: {
    tasks: number;
    image: string;
    rate?: number;
    /** The wait before the i-th arrival (i ≥ 1): a sparse load, instead of at `rate`. */
    gapMs?: (i: number) => number;
    audit: AuditLog | undefined;
  }): Promise<LoadResult> {
    const { classes } = this.o;
    opts.audit?.mark();
    const before = await this.admin.stats();
    const start = Date.now();
    const ids: string[] = [];
    if (opts.gapMs !== undefined) {
      for (let i = 0; i < opts.tasks; i++) {
        if (i > 0) await sleep(opts.gapMs(i));
        ids.push(
          await this.admin.enqueue({ resource_class: classes[i % classes.length]!, image: opts.image }),
        );
      }
    } else if (opts.rate === undefined) {
      const per = classes.map(
        (_, i) => Math.floor(opts.tasks / classes.length) + (i < opts.tasks % classes.length ? 1 : 0),
      );
      const batches = await Promise.all(
        classes.map((rc, i) =>
          per[i]! > 0 ? this.admin.enqueueMany({ resource_class: rc, image: opts.image }, per[i]!) : [],
        ),
      );
      ids.push(...batches.flat());
    } else {
      const every = 1000 / opts.rate;
      for (let i = 0; i < opts.tasks; i++) {
        const due = start + i * every - Date.now();
        if (due > 0) await sleep(due);
        ids.push(
          await this.admin.enqueue({ resource_class: classes[i % classes.length]!, image: opts.image }),
        );
      }
    }
    // From the last arrival: a sparse load's arrivals alone take longer than the grace.
    const deadline = Date.now() + 120_000 + (opts.gapMs === undefined ? opts.tasks * 1_000 : 0);
    const settled = (id: string) => {
      const t = this.times.get(id);
      return t?.ended !== undefined && t.podGone !== undefined && t.secretGone !== undefined;
    };
    while (!ids.every(settled) && Date.now() < deadline) await sleep(250);
    const elapsedMs = Date.now() - start;
    const after = await this.admin.stats();

    // Queue times from the simulator's history; completion and claims checked there too.
    const details = [];
    for (let i = 0; i < ids.length; i += 50)
      details.push(...(await Promise.all(ids.slice(i, i + 50).map((id) => this.admin.task(id)))));
    let completed = 0;
    let duplicated = 0;
    let duplicatePods = 0;
    for (const d of details) {
      const t = this.#task(d.id);
      const q = d.history.find((h) => h.type === 'queued');
      if (q) t.queued = Date.parse(q.at);
      const f = d.history.find((h) => h.type === 'config-fetched');
      if (f) t.configFetched = Date.parse(f.at);
      if (d.state === 'completed') completed++;
      if (d.claims > 1 || t.claims > 1) duplicated++;
      if ((t.pods?.size ?? 0) > 1) duplicatePods++;
    }
    const rows = ids.map((id) => this.times.get(id)!).filter(Boolean);
    const value = (t: TaskTimes, s: string): number | undefined =>
      s === 'cleaned'
        ? t.podGone !== undefined && t.secretGone !== undefined
          ? Math.max(t.podGone, t.secretGone)
          : undefined
        : (t as unknown as Record<string, number | undefined>)[s];
    const stages: Record<string, Percentiles | undefined> = {};
    for (const [a, b] of STAGES) {
      const d = rows
        .map((t) => [value(t, a), value(t, b)] as const)
        .filter((x): x is readonly [number, number] => x[0] !== undefined && x[1] !== undefined)
        .map(([x, y]) => y - x);
      stages[`${a}->${b}`] = percentiles(d);
    }
    const cleaned = rows.map((t) => value(t, 'cleaned')).filter((x): x is number => x !== undefined);
    return {
      tasks: ids.length,
      completed,
      duplicated,
      duplicatePods,
      lost: ids.length - cleaned.length,
      elapsedMs,
      tasksPerSecond: sustainedRate(cleaned),
      stages,
      runnerApi: runnerApiDelta(before, after, ids.length),
      kubeRequests: { requests: opts.audit?.read() ?? [] },
    };
  }

  procStats(): Record<string, ProcStats> {
    return this.procs.stats();
  }

  async stop(): Promise<void> {
    const steps = [
      () => this.procs.stop(),
      () => this.#tap?.stop(),
      () => this.bus?.close(),
      ...this.#informers.map((i) => () => i.stop()),
      () => this.sim?.close(),
    ];
    // Each step bounded: a watch that will not close must not hold the results hostage.
    for (const s of steps) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.resolve()
          .then(s)
          .catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, 20_000);
        }),
      ]);
      clearTimeout(timer);
    }
  }
}

/** Per-task Runner API requests of the container runner, and each endpoint's count. */
export function runnerApiDelta(before: SimStats, after: SimStats, tasks: number) {
  const byEndpoint: Record<string, number> = {};
  for (const [ep, byStatus] of Object.entries(after.requests)) {
    const total = (s: Record<string, number> | undefined) =>
      Object.values(s ?? {}).reduce((a, b) => a + b, 0);
    const n = total(byStatus) - total(before.requests[ep as keyof SimStats['requests']]);
    if (n > 0) byEndpoint[ep] = n;
  }
  const runner = ['claim', 'taskConfig', 'unclaim', 'fail'].reduce((a, ep) => a + (byEndpoint[ep] ?? 0), 0);
  return { perTask: tasks > 0 ? runner / tasks : 0, byEndpoint };
}
