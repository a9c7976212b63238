// The chaos suite: two replicas of the container runner's services (claimer, scheduler, gc,
// constraints) on a three-node NATS cluster (streams and buckets R3) and a Redis of its own,
// against the test bed's apiserver and kwok nodes, while a steady stream of tasks arrives and
// faults strike at random: kill -9 of a service replica (restarted under the same name, as a
// container restarts in its pod), kill -9 of a NATS node (restarted), kill -9 of Redis
// (restarted with its data; once without: data lost), and kill -9 of the apiserver
// (restarted). Judged from outside Longshore: the simulator's per-task history (claims and
// endings), the apiserver (every pod creation, counted by uid; what is left at the end), the
// services' logs and the bus (no token anywhere).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, makeInformer, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { type Bus, connectBus } from '@longshore/bus';
import { GOAT_CONFIG_SECRET_KEY, MANAGED_SELECTOR } from '@longshore/contracts';
import { SimAdminClient, startSim, type TaskDetail } from '@longshore/runner-api-sim';
import { keepInformer } from '@longshore/runtime/kube';
import {
  freePort,
  NatsCluster,
  readTestbedEnv,
  restartApiserver,
  type ServiceName,
  ServiceProcess,
  stopChild,
  tempNamespace,
  waitFor,
} from '@longshore/testbed';
import { pino } from 'pino';
import { stringify } from 'yaml';

export const FAULT_KINDS = [
  'kill-claimer',
  'kill-scheduler',
  'kill-gc',
  'kill-constraints',
  'kill-nats-node',
  'restart-redis',
  'wipe-redis',
  'restart-apiserver',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ChaosOptions {
  tasks: number;
  /** Tasks enqueued per second (a steady arrival, so claiming goes on through the faults). */
  rate: number;
  /** Faults after the first of each kind, picked at random. */
  extraFaults: number;
  /** Pause between faults, ms: [min, max]. */
  faultGapMs: readonly [number, number];
  /** Each task's image (a test bed fate). */
  image: string;
  seed: number;
  /** agent.maxConcurrentTasks of each claimer. */
  concurrency: number;
  log: (line: string) => void;
}

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  at: string;
  /** First claim of any task after the fault, minus its time, when a task was waiting; ms. */
  stallMs: number | null;
}

export interface ChaosReport {
  startedAt: string;
  options: Omit<ChaosOptions, 'log'>;
  tasks: number;
  faults: FaultRecord[];
  /** Tasks whose history has exactly one ending (completed or failed). */
  endedOnce: number;
  /** The others, one line each (id, state, what the API saw of it): where to start looking. */
  notEndedOnce: string[];
  completed: number;
  failed: number;
  /** Tasks claimed by more than one runner (a claim whose answer died with its runner and that the API requeued is not one). */
  claimedTwice: number;
  /** Task pod names the apiserver created more than once. */
  duplicatePods: number;
  podsCreated: number;
  /** Task pods and Secrets left after every task ended (and a grace to clean up). */
  objectsLeft: number;
  /** What was left, one line each (kind, name, phase, age): where to start looking. */
  leftovers: string[];
  /** Where the services' logs and the bus were kept, when the run was not clean. */
  logsKept?: string | undefined;
  /** Tokens (class and task) found in any service log line or bus message. */
  tokensLeaked: number;
  tokensWatched: number;
  /** Longest claiming stall after a fault, by kind, ms. */
  longestStallMs: Partial<Record<FaultKind, number>>;
  durationMs: number;
}

const SERVICES: readonly ServiceName[] = ['claimer', 'scheduler', 'gc', 'constraints'];
const CLASSES = { 'chaos/a': 'tok-chaos-a-0000000001', 'chaos/b': 'tok-chaos-b-0000000001' };

/** A small deterministic generator, so a run can be repeated with its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Redis of the run's own, with an append-only file so that a restart keeps its data. */
class ChaosRedis {
  readonly port: number;
  readonly dir: string;
  #child: ReturnType<typeof spawn> | undefined;

  constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ],
      { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin` } },
    );
    this.#child = child;
    await waitFor(`redis on ${this.port}`, () => tcpOpen(this.port), { timeoutMs: 30_000 });
  }

  /** kill -9; with `wipe`, its data is gone when it comes back. */
  async kill(wipe: boolean): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    if (wipe) rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    if (this.#child) await stopChild(this.#child, 5_000);
  }
}

async function tcpOpen(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const random = rng(o.seed);
  const env = readTestbedEnv();
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  const core = kc.makeApiClient(CoreV1Api);
  const id = `chaos${Date.now().toString(36)}`;
  const ns = await tempNamespace(core, id);
  const dir = mkdtempSync(join(tmpdir(), 'longshore-chaos-'));
  const nats = await NatsCluster.start();
  const redis = new ChaosRedis(await freePort(), join(dir, 'redis'));
  await redis.start();
  // What the simulator's stand-in for the in-pod orchestrator did with each pod (reported,
  // refused, found no settings), kept with the logs when the run is not clean.
  const simLines: string[] = [];
  const simLogger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        if (line.includes('"msg":"task agent"')) simLines.push(line.trimEnd());
      },
    },
  );
  const sim = await startSim({
    logger: simLogger,
    classes: Object.fromEntries(Object.entries(CLASSES).map(([rc, t]) => [rc, [t]])),
    apiToken: 'api-token-chaos',
    agent: { kc, namespace: ns.name },
    // Claims whose answer died with a killed claimer go back to the queue quickly.
    claimLeaseMs: 5_000,
  });
  const admin = new SimAdminClient(sim.url);
  const configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    stringify({
      agent: {
        runnerAPI: sim.url,
        namespace: ns.name,
        maxConcurrentTasks: o.concurrency,
        taskPod: { imagePullTimeout: '10s', unschedulableTimeout: '30s' },
        gc: { interval: '30s' },
        constraintChecker: { enable: true, interval: '30s' },
        resourceClasses: Object.fromEntries(Object.entries(CLASSES).map(([rc, token]) => [rc, { token }])),
      },
      bus: { url: nats.url, prefix: id, replicas: 3 },
      redis: { url: redis.url, keyPrefix: id },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    }),
  );
  const procs = new Map<string, ServiceProcess>();
  // Every process ever spawned, the killed ones too: their lines are judged (tokens) and kept.
  const spawned: ServiceProcess[] = [];
  const spawnService = (svc: ServiceName, label: string) => {
    const p = ServiceProcess.spawn(svc, {
      configFile,
      kubeconfig: env.KUBECONFIG,
      label,
      env: { LONGSHORE_INSTANCE: label },
    });
    procs.set(label, p);
    spawned.push(p);
    return p;
  };
  for (const svc of SERVICES) for (const r of ['a', 'b']) spawnService(svc, `${svc}-${r}`);

  // What the apiserver saw: every pod creation (uid per name), and every task token.
  const podUids = new Map<string, Set<string>>();
  const taskTokens = new Set<string>();
  const pods = makeInformer<V1Pod>(
    kc,
    `/api/v1/namespaces/${ns.name}/pods`,
    () => core.listNamespacedPod({ namespace: ns.name, labelSelector: MANAGED_SELECTOR }),
    MANAGED_SELECTOR,
  );
  pods.on('add', (p) => {
    const set = podUids.get(p.metadata?.name ?? '') ?? new Set<string>();
    set.add(p.metadata?.uid ?? '');
    podUids.set(p.metadata?.name ?? '', set);
  });
  const secrets = makeInformer<V1Secret>(
    kc,
    `/api/v1/namespaces/${ns.name}/secrets`,
    () => core.listNamespacedSecret({ namespace: ns.name, labelSelector: MANAGED_SELECTOR }),
    MANAGED_SELECTOR,
  );
  secrets.on('add', (s) => {
    const raw = s.data?.[GOAT_CONFIG_SECRET_KEY];
    if (!raw) return;
    const token = (JSON.parse(Buffer.from(raw, 'base64').toString()) as { token?: string }).token;
    if (token) taskTokens.add(token);
  });
  // Informers ride out the apiserver restart only if restarted, and must stay stopped once
  // stopped (a restart pending at the end kept the process alive with an open watch).
  const quiet = { info: () => undefined, warn: () => undefined };
  const kept = [
    keepInformer(pods, { what: 'the pod watch', logger: quiet }),
    keepInformer(secrets, { what: 'the Secret watch', logger: quiet }),
  ];
  await Promise.all(kept.map((k) => k.started));
  let bus: Bus | undefined;
  const busLines: string[] = [];
  const faults: FaultRecord[] = [];
  const ids: string[] = [];
  try {
    bus = await connectBus({ servers: nats.urls, prefix: id, name: `${id}-observer` });
    bus.subscribe('>', (e) => {
      busLines.push(JSON.stringify(e.payload));
    });
    await waitFor(
      'every service ready',
      async () =>
        (await Promise.all([...procs.values()].map((p) => p.status('/readyz')))).every((s) => s === 200),
      { timeoutMs: 120_000 },
    );
    o.log(`chaos: ${procs.size} services ready on a 3-node NATS cluster; ${o.tasks} tasks at ${o.rate}/s`);

    // The workload: a steady arrival over the run.
    const arrivals = (async () => {
      for (let i = 0; i < o.tasks; i++) {
        const rc = i % 2 === 0 ? 'chaos/a' : 'chaos/b';
        ids.push(await admin.enqueue({ resource_class: rc, image: o.image }));
        await sleep(1000 / o.rate);
      }
    })();

    // The faults: each kind once, in random order, then `extraFaults` more at random.
    const order = [...FAULT_KINDS].sort(() => random() - 0.5);
    for (let i = 0; i < o.extraFaults; i++)
      order.push(FAULT_KINDS[Math.floor(random() * FAULT_KINDS.length)]!);
    for (const kind of order) {
      await sleep(o.faultGapMs[0] + random() * (o.faultGapMs[1] - o.faultGapMs[0]));
      const at = new Date().toISOString();
      const target = await strike(kind);
      faults.push({ kind, target, at, stallMs: null });
      o.log(`chaos: ${at} ${kind} ${target}`);
    }
    await arrivals;

    async function strike(kind: FaultKind): Promise<string> {
      switch (kind) {
        case 'kill-claimer':
        case 'kill-scheduler':
        case 'kill-gc':
        case 'kill-constraints': {
          const svc = kind.slice('kill-'.length) as ServiceName;
          const label = `${svc}-${random() < 0.5 ? 'a' : 'b'}`;
          const p = procs.get(label)!;
          p.child.kill('SIGKILL');
          await p.exited;
          await sleep(1_000 + random() * 2_000);
          spawnService(svc, label);
          return label;
        }
        case 'kill-nats-node': {
          const node = nats.nodes[Math.floor(random() * nats.nodes.length)]!.name;
          await nats.kill(node);
          await sleep(3_000 + random() * 3_000);
          await nats.restart(node);
          return node;
        }
        case 'restart-redis':
        case 'wipe-redis': {
          await redis.kill(kind === 'wipe-redis');
          await sleep(1_000 + random() * 2_000);
          await redis.start();
          return kind === 'wipe-redis' ? 'redis (data lost)' : 'redis';
        }
        case 'restart-apiserver':
          return `kube-apiserver (down ${Math.round(await restartApiserver(2_000))} ms)`;
      }
    }

    // Every task ends; then every object of ours goes.
    const deadline = Date.now() + 300_000;
    let tasks: TaskDetail[] = [];
    for (;;) {
      tasks = await Promise.all(ids.map((t) => admin.task(t)));
      if (tasks.every((t) => ['completed', 'failed', 'cancelled'].includes(t.state))) break;
      if (Date.now() > deadline) break;
      await sleep(1_000);
    }
    let left: string[] = [];
    for (const until = Date.now() + 120_000; Date.now() < until; await sleep(1_000)) {
      const [p, s] = await Promise.all([
        core.listNamespacedPod({ namespace: ns.name, labelSelector: MANAGED_SELECTOR }),
        core.listNamespacedSecret({ namespace: ns.name, labelSelector: MANAGED_SELECTOR }),
      ]);
      const now = Date.now();
      const ageOf = (t: Date | undefined) =>
        t ? `${Math.round((now - new Date(t).getTime()) / 1000)} s` : '?';
      left = [
        ...p.items.map(
          (x) =>
            `pod ${x.metadata?.name} ${x.status?.phase ?? '?'}${x.metadata?.deletionTimestamp ? ' (deleting)' : ''}, age ${ageOf(x.metadata?.creationTimestamp)}`,
        ),
        ...s.items.map((x) => `secret ${x.metadata?.name}, age ${ageOf(x.metadata?.creationTimestamp)}`),
      ];
      if (left.length === 0) break;
    }
    const report = judge(
      o,
      tasks,
      faults,
      podUids,
      left,
      [...taskTokens, ...Object.values(CLASSES)],
      [...spawned.flatMap((p) => p.lines), ...busLines],
      t0,
    );
    if (!chaosClean(report)) report.logsKept = keepLogs(spawned, busLines, simLines);
    return report;
  } finally {
    for (const p of procs.values()) await p.stop().catch(() => undefined);
    await Promise.allSettled(kept.map((k) => k.stop()));
    await bus?.close().catch(() => undefined);
    await sim.close();
    await nats.stop();
    await redis.stop();
    await ns.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every task ended once, none claimed twice, no pod twice, nothing left, no token shown. */
export function chaosClean(r: ChaosReport): boolean {
  return (
    r.endedOnce === r.tasks &&
    r.claimedTwice === 0 &&
    r.duplicatePods === 0 &&
    r.objectsLeft === 0 &&
    r.tokensLeaked === 0
  );
}

/**
 * Writes each process's lines, the bus and the simulator's in-pod stand-in to a directory
 * that outlives the run; returns it.
 */
function keepLogs(
  procs: readonly ServiceProcess[],
  busLines: readonly string[],
  simLines: readonly string[],
): string {
  const keep = mkdtempSync(join(tmpdir(), 'longshore-chaos-logs-'));
  procs.forEach((p, i) => {
    writeFileSync(join(keep, `${String(i).padStart(2, '0')}-${p.label}.log`), `${p.lines.join('\n')}\n`);
  });
  writeFileSync(join(keep, 'bus.log'), `${busLines.join('\n')}\n`);
  writeFileSync(join(keep, 'sim-task-agent.log'), `${simLines.join('\n')}\n`);
  return keep;
}

/** The figures, from what the simulator and the apiserver saw. Pure. */
export function judge(
  o: ChaosOptions,
  tasks: readonly TaskDetail[],
  faults: FaultRecord[],
  podUids: ReadonlyMap<string, ReadonlySet<string>>,
  leftovers: readonly string[],
  tokens: readonly string[],
  lines: readonly string[],
  t0: number,
): ChaosReport {
  const count = (t: TaskDetail, type: string) => t.history.filter((e) => e.type === type).length;
  const endedOnce = (t: TaskDetail) => count(t, 'completed') + count(t, 'failed') === 1;
  const claimTimes = tasks
    .flatMap((t) => t.history.filter((e) => e.type === 'claimed').map((e) => Date.parse(e.at)))
    .sort((a, b) => a - b);
  const firstClaim = new Map(
    tasks.map((t) => [t.id, Date.parse(t.history.find((e) => e.type === 'claimed')?.at ?? '')]),
  );
  const longest: Partial<Record<FaultKind, number>> = {};
  for (const f of faults) {
    const at = Date.parse(f.at);
    // Only when some task was waiting at the fault: queued before it, first claimed after.
    const waiting = tasks.some((t) => Date.parse(t.created_at) <= at && !((firstClaim.get(t.id) ?? 0) <= at));
    const next = claimTimes.find((c) => c >= at);
    f.stallMs = waiting && next !== undefined ? next - at : null;
    if (f.stallMs !== null) longest[f.kind] = Math.max(longest[f.kind] ?? 0, f.stallMs);
  }
  const text = lines.join('\n');
  const { log: _log, ...options } = o;
  return {
    startedAt: new Date(t0).toISOString(),
    options,
    tasks: tasks.length,
    faults,
    endedOnce: tasks.filter(endedOnce).length,
    notEndedOnce: tasks
      .filter((t) => !endedOnce(t))
      .map(
        (t) =>
          `task ${t.id} ${t.state}: ${t.history.map((e) => `${e.type} ${e.at.slice(11, 23)}`).join(', ')}`,
      ),
    completed: tasks.filter((t) => t.state === 'completed').length,
    failed: tasks.filter((t) => t.state === 'failed').length,
    claimedTwice: tasks.filter((t) => count(t, 'claimed') - count(t, 'claim-expired') > 1).length,
    duplicatePods: [...podUids.values()].filter((u) => u.size > 1).length,
    podsCreated: podUids.size,
    objectsLeft: leftovers.length,
    leftovers: [...leftovers],
    tokensLeaked: tokens.filter((t) => text.includes(t)).length,
    tokensWatched: tokens.length,
    longestStallMs: longest,
    durationMs: Date.now() - t0,
  };
}

export function formatChaos(r: ChaosReport): string {
  const kinds = FAULT_KINDS.map((k) => {
    const n = r.faults.filter((f) => f.kind === k).length;
    const stall = r.longestStallMs[k];
    return `| ${k} | ${n} | ${stall === undefined ? '-' : `${(stall / 1000).toFixed(1)} s`} |`;
  });
  return [
    `# Chaos run ${r.startedAt}`,
    '',
    `${r.tasks} tasks (${r.options.image}, ${r.options.rate}/s), two replicas of claimer, scheduler, gc and constraints, ` +
      `a 3-node NATS cluster (R3), Redis with an append-only file; seed ${r.options.seed}; ${Math.round(r.durationMs / 1000)} s.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| tasks ended exactly once | ${r.endedOnce} of ${r.tasks} (${r.completed} completed, ${r.failed} failed) |`,
    `| tasks claimed twice | ${r.claimedTwice} |`,
    `| duplicate pods | ${r.duplicatePods} (of ${r.podsCreated} created) |`,
    `| objects left | ${r.objectsLeft} |`,
    `| tokens in logs or on the bus | ${r.tokensLeaked} (of ${r.tokensWatched} watched) |`,
    '',
    '| fault | times | longest stall in claiming after it |',
    '|---|---|---|',
    ...kinds,
    ...(r.notEndedOnce.length > 0
      ? ['', 'Not ended exactly once:', '', ...r.notEndedOnce.map((l) => `- ${l}`)]
      : []),
    ...(r.leftovers.length > 0 ? ['', 'Left:', '', ...r.leftovers.map((l) => `- ${l}`)] : []),
    ...(r.logsKept ? ['', `Logs kept in ${r.logsKept}`] : []),
    '',
    'Faults in order:',
    '',
    ...r.faults.map(
      (f) =>
        `- ${f.at} ${f.kind} ${f.target}${f.stallMs === null ? '' : `, next claim after ${f.stallMs} ms`}`,
    ),
    '',
  ].join('\n');
}
