// Outages at start and while running, with the five services as real processes: NATS,
// Redis or the apiserver unreachable at start means alive (/livez 200), not ready (/readyz
// 503) and a log line saying what is awaited, never an exit; once the dependency is there
// every service becomes ready. A restart of NATS or Redis, or the apiserver going away
// and coming back, is ridden out: a task enqueued afterwards runs end to end. SIGTERM
// during a wait ends the process at once with status 0.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { type RunningSim, SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { ScratchServer, TcpProxy } from '@longshore/testbed';
import {
  freePort,
  readTestbedEnv,
  type ServiceName,
  type ServiceProcess,
  spawnService,
  type TempNamespace,
  tempNamespace,
  waitFor,
} from '@longshore/testbed/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const RC = 'outage/small';
const TOKEN = 'tok-outage-small-0123456789';
const VM_RC = 'outage/vm';
const VM_TOKEN = 'tok-outage-vm-0123456789';
const API_TOKEN = 'api-token-outage-0123456789';
const ALL: readonly ServiceName[] = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'];
const SECRETS = [TOKEN, VM_TOKEN, API_TOKEN];

const env = readTestbedEnv();
const kc = new KubeConfig();
kc.loadFromFile(env.KUBECONFIG);
const core = kc.makeApiClient(CoreV1Api);
const dir = mkdtempSync(join(tmpdir(), 'longshore-outages-'));
let ns: TempNamespace;
let sim: RunningSim;
let admin: SimAdminClient;
const procs: ServiceProcess[] = [];
const servers: ScratchServer[] = [];
const proxies: TcpProxy[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  ns = await tempNamespace(core, 'outages');
  sim = await startSim({
    classes: { [RC]: [TOKEN], [VM_RC]: [VM_TOKEN] },
    apiToken: API_TOKEN,
    agent: { kc, namespace: ns.name },
  });
  admin = new SimAdminClient(sim.url);
});

afterEach(async () => {
  await Promise.allSettled(procs.splice(0).map((p) => p.stop(2_000)));
  await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
  await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await sim?.close();
  // No controller-manager on the test bed: the vm-scaler's pools are deleted by hand.
  await kc
    .makeApiClient(CustomObjectsApi)
    .deleteCollectionNamespacedCustomObject({
      group: 'pool.kubevirt.io',
      version: 'v1beta1',
      plural: 'virtualmachinepools',
      namespace: ns.name,
    })
    .catch(() => undefined);
  await ns?.cleanup();
  await dropStreams(prefixes);
  rmSync(dir, { recursive: true, force: true });
});

interface ConfigOptions {
  prefix: string;
  nats: string;
  redis: string;
  /** Take the class token from this Secret (agent.customSecret) rather than the file. */
  customSecret?: string;
}

/** One config file every service reads, as a user would write it. */
function writeConfig(o: ConfigOptions): string {
  prefixes.push(o.prefix);
  const cfg = {
    agent: {
      runnerAPI: sim.url,
      namespace: ns.name,
      resourceClasses: { [RC]: o.customSecret ? {} : { token: TOKEN } },
      ...(o.customSecret ? { customSecret: o.customSecret } : {}),
      constraintChecker: { enable: true },
    },
    provisioner: {
      circleciAPIAddr: sim.url,
      circleToken: API_TOKEN,
      namespace: ns.name,
      pollInterval: '1s',
      resourceClass: { name: VM_RC, token: VM_TOKEN, minReplicas: 0, maxReplicas: 1 },
    },
    bus: { url: o.nats, prefix: o.prefix },
    redis: { url: o.redis, keyPrefix: o.prefix },
    http: { host: '127.0.0.1', port: 0 },
    logging: { level: 'info' },
  };
  const file = join(dir, `${o.prefix}.yaml`);
  writeFileSync(file, stringify(cfg));
  return file;
}

function spawn(service: ServiceName, configFile: string, kubeconfig: string, label: string = service) {
  const p = spawnService(service, {
    configFile,
    kubeconfig,
    label,
    env: { LONGSHORE__agent__name: label, LONGSHORE_INSTANCE: label },
  });
  procs.push(p);
  return p;
}

/** Waits (bounded) until `check` holds for every process; the error shows their last lines. */
async function untilAll(
  what: string,
  ps: readonly ServiceProcess[],
  check: (p: ServiceProcess) => Promise<boolean> | boolean,
) {
  try {
    await waitFor(what, async () => (await Promise.all(ps.map(check))).every(Boolean), { timeoutMs: 60_000 });
  } catch (err) {
    const pending = [];
    for (const p of ps) if (!(await check(p))) pending.push(p);
    throw new Error(
      `${(err as Error).message}; still not: ${pending.map((p) => p.label).join(', ')}\n${pending.map((p) => p.tail()).join('\n')}`,
      {
        cause: err,
      },
    );
  }
}

const waitingNotReady = (text: string) => async (p: ServiceProcess) =>
  p.running && p.logged(text) && (await p.status('/livez')) === 200 && (await p.status('/readyz')) === 503;
const ready = async (p: ServiceProcess) => (await p.status('/readyz')) === 200;
const notReady = async (p: ServiceProcess) => (await p.status('/readyz')) === 503;

/** A task enqueued now runs to completion: claim, bus, pod, watch, report all work. */
async function expectTaskRuns(ps: readonly ServiceProcess[]) {
  const id = await admin.enqueue({ resource_class: RC, image: 'fate.test/succeed:300ms' });
  let state = '';
  try {
    await waitFor(
      `task ${id} to complete`,
      async () => {
        state = (await admin.task(id)).state;
        return state === 'completed';
      },
      { timeoutMs: 60_000 },
    );
  } catch (err) {
    throw new Error(`task ended ${state}\n${ps.map((p) => p.tail()).join('\n')}`, { cause: err });
  }
}

function expectNoSecrets(ps: readonly ServiceProcess[]) {
  const logs = ps.flatMap((p) => p.lines).join('\n');
  for (const s of SECRETS) expect(logs.includes(s), 'a token in the logs').toBe(false);
}

describe('outages', () => {
  it('waits for NATS and Redis that start late, and rides out their restarts', async () => {
    const nats = ScratchServer.nats(await freePort(), mkdtempSync(join(dir, 'nats-')));
    const redis = ScratchServer.redis(await freePort());
    servers.push(nats, redis);
    const file = writeConfig({ prefix: `out${Date.now().toString(36)}a`, nats: nats.url, redis: redis.url });
    const services = ALL.map((s) => spawn(s, file, env.KUBECONFIG));
    const [claimer, scheduler, gc, constraints, vmScaler] = services as [
      ServiceProcess,
      ServiceProcess,
      ServiceProcess,
      ServiceProcess,
      ServiceProcess,
    ];
    const usersOfRedis = [claimer, scheduler, gc];
    // One more, to be stopped while it waits.
    const early = spawn('gc', file, env.KUBECONFIG, 'gc-sigterm');

    await untilAll(
      'every service alive, not ready, waiting for NATS',
      [...services, early],
      waitingNotReady(`waiting for NATS at ${nats.url}`),
    );
    await untilAll('the users of Redis waiting for it', usersOfRedis, (p) =>
      p.logged(`waiting for Redis at ${redis.url}`),
    );

    expect(await early.stop()).toBe(0);
    expect(early.logged('shutdown complete')).toBe(true);

    await nats.start();
    await untilAll('constraints and vm-scaler ready once NATS is there', [constraints, vmScaler], ready);
    // Redis is still down: its users stay not ready.
    for (const p of usersOfRedis) expect(await p.status('/readyz'), p.label).toBe(503);

    await redis.start();
    await untilAll('every service ready', services, ready);
    for (const p of usersOfRedis) expect(p.logged(`Redis at ${redis.url} is available`), p.label).toBe(true);

    // While running: Redis restarts (empty), then NATS restarts (same store).
    await redis.stop();
    await untilAll('the users of Redis not ready while it is down', usersOfRedis, notReady);
    await redis.start();
    await nats.stop();
    await untilAll('every service not ready while NATS is down', services, notReady);
    await nats.start();
    await untilAll('every service ready again', services, ready);
    await expectTaskRuns(services);

    expect(services.every((p) => p.running)).toBe(true);
    expectNoSecrets([...services, early]);
  });

  it('waits for an apiserver that is unreachable at first, and rides out it going away', async () => {
    // The services reach the apiserver only through this proxy, which is not listening yet.
    const server = new URL(kc.getCurrentCluster()?.server ?? '');
    const proxy = new TcpProxy(await freePort(), { host: server.hostname, port: Number(server.port) });
    proxies.push(proxy);
    const viaProxy = new KubeConfig();
    viaProxy.loadFromFile(env.KUBECONFIG);
    viaProxy.clusters = viaProxy.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${proxy.port}` }));
    const kubeconfig = join(dir, 'kubeconfig-via-proxy.json');
    writeFileSync(kubeconfig, viaProxy.exportConfig());
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'outage-tokens' }, stringData: { [RC.replace('/', '.')]: TOKEN } },
    });
    const file = writeConfig({
      prefix: `out${Date.now().toString(36)}b`,
      nats: env.NATS_URL,
      redis: env.REDIS_URL,
      customSecret: 'outage-tokens',
    });
    const services = ALL.map((s) => spawn(s, file, kubeconfig));
    const [, scheduler, gc, constraints] = services as [
      ServiceProcess,
      ServiceProcess,
      ServiceProcess,
      ServiceProcess,
    ];
    // gc has no start-up step that needs the apiserver (its sweeps do, and retry each interval).
    const usersOfKube = services.filter((p) => p !== gc);
    const early = spawn('constraints', file, kubeconfig, 'constraints-sigterm');

    const refused = `ECONNREFUSED 127.0.0.1:${proxy.port}`;
    await untilAll(
      'the users of the apiserver alive, not ready, waiting for it',
      [...usersOfKube, early],
      waitingNotReady(refused),
    );
    expect(
      scheduler.logged(`waiting for the pod watch of ${ns.name} at https://127.0.0.1:${proxy.port}`),
    ).toBe(true);

    expect(await early.stop()).toBe(0);
    expect(early.logged('shutdown complete')).toBe(true);

    await proxy.listen();
    await untilAll('every service ready once the apiserver answers', services, ready);

    // The apiserver goes away (every connection cut) and comes back: the watches restart.
    await proxy.close();
    await untilAll('the watches noticing', [scheduler, constraints], (p) => p.logged(/ watch .* failed: /));
    await proxy.listen();
    await untilAll('the watches restarted', [scheduler, constraints], (p) =>
      p.logged(/ watch .* restarted$/),
    );
    await expectTaskRuns(services);

    expect(services.every((p) => p.running)).toBe(true);
    expectNoSecrets([...services, early]);
  });
});

/** Removes the streams (events and KV buckets) the services made on the test bed's NATS. */
async function dropStreams(list: readonly string[]) {
  const nc = await connect({ servers: env.NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names())
      if (list.some((p) => name.toLowerCase().includes(p.toLowerCase()))) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}
