// `longshore start` (npm start): the main job against the local stack. Brings up the test
// bed (or reuses it), starts the Runner API simulator playing the task agent, runs the
// claimer, scheduler and vm-scaler as their own processes, enqueues the demo workload,
// streams the bus tap and prints a summary. With --once it exits when the demo has ended,
// with status 0 only if everything ended as the demo expected.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { type Bus, connectBus } from '@longshore/bus';
import { SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { formatStageFigures, stageFigures } from '@longshore/runtime/stages';
import { freePort, REPO_ROOT, stopChild, up } from '@longshore/testbed';
import { stringify } from 'yaml';
import type { Io } from './config-check.ts';
import { DEMO_CLASSES, demoTasks, MACHINE_POOL, MACHINE_QUEUE } from './demo.ts';
import { tap } from './tap.ts';
import { type FleetPage, startFleetPage } from './ui/server.ts';

export interface StartOptions {
  once: boolean;
  /** Where task pods and VM pools go. */
  namespace: string;
  simPort: number;
  /** The fleet page's port (0: any free one; a taken port falls back to any free one). */
  uiPort: number;
  /** Give up on the demo after this long. */
  timeoutMs?: number;
}

const SERVICES = ['scheduler', 'claimer', 'gc', 'constraints', 'vm-scaler'] as const;
const PREFIX = 'longshore';

export async function start(opts: StartOptions, io: Io, signal: AbortSignal): Promise<number> {
  const bed = await up({ log: io.err });
  io.err(bed.reused ? 'start: reusing the running test bed' : 'start: test bed started');
  const kc = new KubeConfig();
  kc.loadFromFile(bed.env.KUBECONFIG);
  await ensureNamespace(kc.makeApiClient(CoreV1Api), opts.namespace);

  // Fresh tokens every run: they are the secrets the services must never show.
  const token = () => randomBytes(16).toString('hex');
  const tokens = { small: token(), arm: token(), spot: token(), machine: token(), api: token() };
  // The private image job's registry password: a secret like the tokens.
  const registryPassword = token();
  const sim = await startSim({
    port: opts.simPort,
    classes: {
      [DEMO_CLASSES.small]: [tokens.small],
      [DEMO_CLASSES.arm]: [tokens.arm],
      [DEMO_CLASSES.spot]: [tokens.spot],
      [DEMO_CLASSES.machine]: [tokens.machine],
    },
    apiToken: tokens.api,
    agent: { kc, namespace: opts.namespace },
  });
  const admin = new SimAdminClient(sim.url);
  const dir = join(REPO_ROOT, '.testbed', 'demo');
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    stringify({
      agent: {
        name: 'demo-runner',
        runnerAPI: sim.url,
        namespace: opts.namespace,
        maxConcurrentTasks: 4,
        terminationGracePeriodSeconds: 60,
        constraintChecker: { enable: true },
        resourceClasses: {
          [DEMO_CLASSES.small]: { token: tokens.small },
          [DEMO_CLASSES.arm]: {
            token: tokens.arm,
            spec: { nodeSelector: { 'kubernetes.io/arch': 'arm64' } },
          },
          // The seeds' unsafe-retries example: spot nodes, tolerated, retried when evicted.
          [DEMO_CLASSES.spot]: {
            token: tokens.spot,
            enableUnsafeRetries: true,
            spec: {
              nodeSelector: { lifecycle: 'Ec2Spot' },
              tolerations: [{ key: 'lifecycle', operator: 'Equal', value: 'Ec2Spot', effect: 'NoExecute' }],
            },
          },
        },
      },
      provisioner: {
        circleciAPIAddr: sim.url,
        circleToken: tokens.api,
        namespace: opts.namespace,
        resourceClass: { name: DEMO_CLASSES.machine, token: tokens.machine, ...MACHINE_POOL },
      },
      bus: { url: bed.env.NATS_URL, prefix: PREFIX },
      redis: { url: bed.env.REDIS_URL, keyPrefix: PREFIX },
      http: { host: '127.0.0.1', port: 0 },
    }),
    { mode: 0o600 },
  );

  const bus = await connectBus({ servers: bed.env.NATS_URL, prefix: PREFIX, name: 'longshore-start' });
  await bus.ensureStream();
  const procs = new Map<string, ChildProcess>();
  let page: FleetPage | undefined;
  const stopTap = new AbortController();
  const startedAt = Date.now();
  const vmSizes: number[] = [];
  const scheduled = new Map<string, string>();
  const tapDone = tap(
    {
      bus,
      sinceMs: 1,
      onEvent: (e) => {
        if (e.name === 'scaler.decision')
          vmSizes.push(Number((e.payload as { desired_vms: number }).desired_vms));
        if (e.name === 'task.scheduled') {
          const p = e.payload as { task_id: string; pod: string };
          scheduled.set(p.task_id, p.pod);
        }
      },
    },
    io,
    stopTap.signal,
  );
  try {
    // Each service on a port of its own, so that its /metrics can be named (and read at the end).
    const ports = new Map<string, number>();
    for (const svc of SERVICES) {
      ports.set(svc, await freePort());
      procs.set(svc, spawnService(svc, configFile, bed.env.KUBECONFIG, io, ports.get(svc)!));
    }
    const metricsUrl = (svc: string) => `http://127.0.0.1:${ports.get(svc)}/metrics`;
    io.err(
      `start: Runner API simulator at ${sim.url} (admin API under /sim); services: ${SERVICES.join(', ')}`,
    );
    io.err(`start: metrics (Prometheus text): ${SERVICES.map((s) => `${s} ${metricsUrl(s)}`).join(', ')}`);
    io.err(`start: service logs in ${join(REPO_ROOT, '.testbed', 'logs')}`);
    page = await openFleetPage(bus, opts.uiPort, SERVICES.map(metricsUrl), io);
    io.err(`start: the fleet page (classes, a live task timeline, VM pools): ${page.url}`);

    const demo = demoTasks(registryPassword);
    const ids = await Promise.all(demo.map((d) => admin.enqueue(d.task)));
    // Each podCheck, run once while its task's pod and Secret exist (they go when it ends).
    const core = kc.makeApiClient(CoreV1Api);
    const checks = new Map<number, string | undefined>();
    const inspectPods = async () => {
      for (const [i, d] of demo.entries()) {
        const pod = scheduled.get(ids[i]!);
        if (d.podCheck === undefined || checks.has(i) || pod === undefined) continue;
        try {
          const [p, s] = await Promise.all([
            core.readNamespacedPod({ name: pod, namespace: opts.namespace }),
            core.readNamespacedSecret({ name: pod, namespace: opts.namespace }),
          ]);
          checks.set(i, d.podCheck.check(p, s));
        } catch (err) {
          checks.set(
            i,
            `its pod could not be read: ${(err as { code?: number }).code ?? (err as Error).message}`,
          );
        }
      }
    };
    const machineIds = await Promise.all(
      Array.from({ length: MACHINE_QUEUE }, () =>
        admin.enqueue({ resource_class: DEMO_CLASSES.machine, image: 'machine' }),
      ),
    );
    const deadline = startedAt + (opts.timeoutMs ?? 180_000);
    const until = async (what: string, done: () => Promise<boolean> | boolean) => {
      while (!(await done())) {
        if (signal.aborted) throw new Error('interrupted');
        if (Date.now() > deadline) throw new Error(`demo timed out waiting for ${what}`);
        await sleep(250);
      }
    };
    // The pool grows with the machine queue, then shrinks back to its warm minimum.
    await until('the VM pool to grow', () => vmSizes.includes(MACHINE_QUEUE));
    await Promise.all(machineIds.map((id) => admin.cancel(id)));
    await until('the container tasks to end', async () => {
      await inspectPods();
      const ts = await Promise.all(ids.map((id) => admin.task(id)));
      return ts.every((t) => t.state === 'completed' || t.state === 'failed');
    });
    await until('the VM pool to shrink', () => vmSizes.at(-1) === MACHINE_POOL.minReplicas);
    await sleep(1_000); // let the last events reach the tap

    const tasks = await Promise.all(ids.map((id) => admin.task(id)));
    io.out('');
    io.out('summary');
    let ok = true;
    for (const [i, d] of demo.entries()) {
      const t = tasks[i]!;
      const claims = t.history.filter((e) => e.type === 'claimed').length;
      // A check that passed is on record as undefined.
      const podProblem = d.podCheck === undefined || checks.has(i) ? checks.get(i) : 'its pod was never seen';
      const failedBy = t.history.findLast((e) => e.type === 'failed')?.source;
      const good =
        t.state === d.expect &&
        claims === (d.claims ?? 1) &&
        podProblem === undefined &&
        (d.failedBy === undefined || failedBy === d.failedBy);
      ok &&= good;
      const pod = d.podCheck === undefined ? '' : `; pod: ${podProblem ?? d.podCheck.what}`;
      const by =
        d.failedBy === undefined ? '' : `; failed by ${failedBy ?? 'nobody'}, expected ${d.failedBy}`;
      io.out(
        `  ${good ? 'ok  ' : 'FAIL'}  ${d.task.resource_class.padEnd(12)} ${d.label.padEnd(32)} ${t.state.padEnd(9)} (expected ${d.expect}, ${claims} claim${claims === 1 ? '' : 's'} of ${d.claims ?? 1}${by})${pod}`,
      );
    }
    const peak = Math.max(...vmSizes);
    io.out(
      `  ok    ${DEMO_CLASSES.machine.padEnd(12)} ${'VM pool'.padEnd(32)} grew to ${peak} for ${MACHINE_QUEUE} queued, back to ${vmSizes.at(-1)} (warm minimum)`,
    );
    // The stage histograms as a dashboard would show them, read from the services' /metrics.
    const texts = await Promise.all(
      ['claimer', 'scheduler'].map((s) =>
        fetch(metricsUrl(s), { signal: AbortSignal.timeout(5_000) })
          .then((r) => r.text())
          .catch(() => ''),
      ),
    );
    const stages = stageFigures(texts);
    if (stages.length > 0) {
      io.out('');
      io.out("stage latencies (from the services' /metrics histograms: p50/p99 interpolated within buckets)");
      for (const line of formatStageFigures(stages)) io.out(line);
    }
    io.out(
      `demo ${ok ? 'ended as expected' : 'did NOT end as expected'} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
    if (opts.once || !ok) return ok ? 0 : 1;
    io.err(
      `start: services keep running; the fleet page is at ${page.url}; enqueue more with POST ${sim.url}/sim/tasks. Ctrl-C stops.`,
    );
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    return 0;
  } catch (err) {
    io.err(`start: ${(err as Error).message}`);
    return 1;
  } finally {
    await Promise.all([...procs.values()].map((child) => stopChild(child, 30_000)));
    stopTap.abort();
    await Promise.all([tapDone.catch(() => 0), page?.close()]);
    await bus.close().catch(() => {});
    await sim.close();
  }
}

function spawnService(
  svc: string,
  configFile: string,
  kubeconfig: string,
  io: Io,
  port: number,
): ChildProcess {
  const log = openSync(join(REPO_ROOT, '.testbed', 'logs', `${svc}.log`), 'a');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'services', svc, 'src', 'main.ts')], {
    env: {
      PATH: process.env.PATH,
      LONGSHORE_CONFIG: configFile,
      KUBECONFIG: kubeconfig,
      LONGSHORE__http__port: String(port),
    },
    stdio: ['ignore', log, log],
  });
  child.on('exit', (code, sig) => {
    if (code !== 0 && sig !== 'SIGTERM') io.err(`start: ${svc} exited (${code ?? sig}); see its log`);
  });
  return child;
}

/** The page on `port`, or on any free port when that one is taken (a second demo, say). */
async function openFleetPage(bus: Bus, port: number, metricsUrls: string[], io: Io): Promise<FleetPage> {
  const options = { bus, metricsUrls, warn: io.err };
  try {
    return await startFleetPage({ ...options, port });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE' || port === 0) throw err;
    io.err(`start: port ${port} is taken; the fleet page takes another`);
    return startFleetPage({ ...options, port: 0 });
  }
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}
