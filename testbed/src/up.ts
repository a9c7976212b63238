// Brings the test bed up (or finds it already up) and down. Order matters: etcd before the
// apiserver, the apiserver before the scheduler and kwok, CRDs and nodes once it is ready.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { apiserverArgs, waitForApiserver } from './apiserver.ts';
import { binaries } from './binaries.ts';
import { crdEstablished, ensureCrd, ensureNodes, nodesReady } from './cluster.ts';
import { kubevirtVmCrds, virtualMachinePoolCrd } from './crds.ts';
import { ENV_FILE, REPO_ROOT, type TestbedEnv } from './env.ts';
import { defaultFleet, KWOK_NODE_ANNOTATION } from './fleet.ts';
import { COMPONENTS, layout } from './layout.ts';
import { auditPolicyYaml, ensurePki, kubeconfigYaml } from './pki.ts';
import { httpOk, httpsGet, redisPing } from './probes.ts';
import { freePort, isAlive, readPid, startProcess, stopProcess, TestbedError } from './processes.ts';
import { waitFor } from './wait.ts';

interface Ports {
  etcd: number;
  etcdPeer: number;
  nats: number;
  natsMonitor: number;
  redis: number;
  apiserver: number;
  scheduler: number;
  kwok: number;
}

interface State {
  ports: Ports;
  adminToken: string;
  nodes: number;
  startedAt: string;
}

export interface UpOptions {
  /** How many kwok nodes (default 8, or LONGSHORE_TESTBED_NODES). */
  nodes?: number;
  log?: (line: string) => void;
}

export interface UpResult {
  env: TestbedEnv & Record<string, string>;
  /** True when a running test bed was found and reused. */
  reused: boolean;
  elapsedMs: number;
}

function readState(): State | undefined {
  if (!existsSync(layout.state)) return undefined;
  try {
    return JSON.parse(readFileSync(layout.state, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function envOf(s: State): TestbedEnv & Record<string, string> {
  return {
    NATS_URL: `nats://127.0.0.1:${s.ports.nats}`,
    REDIS_URL: `redis://127.0.0.1:${s.ports.redis}`,
    KUBECONFIG: layout.kubeconfig,
    KUBE_API_URL: `https://127.0.0.1:${s.ports.apiserver}`,
    NATS_MONITOR_URL: `http://127.0.0.1:${s.ports.natsMonitor}`,
    ETCD_URL: `http://127.0.0.1:${s.ports.etcd}`,
  };
}

function writeEnvFile(env: Record<string, string>): void {
  writeFileSync(
    ENV_FILE,
    `${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
}

async function healthy(s: State): Promise<boolean> {
  for (const c of COMPONENTS) {
    const pid = readPid(layout.pid(c));
    if (pid === undefined || !isAlive(pid)) return false;
  }
  try {
    const ca = readFileSync(join(layout.pki, 'serving', 'apiserver.crt'), 'utf8');
    const [api, nats, redis] = await Promise.all([
      httpsGet(`https://127.0.0.1:${s.ports.apiserver}/readyz`, { token: s.adminToken, ca }),
      httpOk(`http://127.0.0.1:${s.ports.natsMonitor}/healthz`),
      redisPing(s.ports.redis),
    ]);
    return api.status === 200 && nats && redis;
  } catch {
    return false;
  }
}

export async function up(opts: UpOptions = {}): Promise<UpResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const existing = readState();
  if (existing && (await healthy(existing))) {
    const env = envOf(existing);
    writeEnvFile(env);
    return { env, reused: true, elapsedMs: Date.now() - t0 };
  }
  if (existing) {
    log('testbed: found a partial test bed; stopping it first');
    await down();
  }
  const bin = binaries();
  for (const d of [layout.dir, layout.logs, layout.data]) mkdirSync(d, { recursive: true });
  rmSync(layout.etcdData(), { recursive: true, force: true });
  rmSync(join(layout.data, 'nats'), { recursive: true, force: true });

  const pki = ensurePki(layout.pki);
  const ports: Ports = {
    etcd: await freePort(),
    etcdPeer: await freePort(),
    nats: await freePort(),
    natsMonitor: await freePort(),
    redis: await freePort(),
    apiserver: await freePort(),
    scheduler: await freePort(),
    kwok: await freePort(),
  };
  const nodes = opts.nodes ?? Number(process.env.LONGSHORE_TESTBED_NODES ?? 8);
  const state: State = { ports, adminToken: pki.adminToken, nodes, startedAt: new Date().toISOString() };
  writeFileSync(layout.state, JSON.stringify(state, null, 2), { mode: 0o600 });

  const start = (c: (typeof COMPONENTS)[number], command: string, args: string[]) =>
    startProcess({ name: c, command, args, logFile: layout.log(c), pidFile: layout.pid(c) });

  log('testbed: starting etcd, nats-server (JetStream), redis-server');
  const etcdPid = start('etcd', bin.etcd, [
    '--name=testbed',
    `--data-dir=${layout.etcdData()}`,
    `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
    `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=testbed=http://127.0.0.1:${ports.etcdPeer}`,
    '--quota-backend-bytes=4294967296',
    // Throwaway data on tmpfs: durability buys nothing here and fsync would be the
    // apiserver's write latency.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ]);
  const natsPid = start('nats', bin.nats, [
    '-js',
    '-a',
    '127.0.0.1',
    '-p',
    String(ports.nats),
    '-m',
    String(ports.natsMonitor),
    '-sd',
    join(layout.data, 'nats'),
  ]);
  const redisPid = start('redis', bin.redis, [
    '--bind',
    '127.0.0.1',
    '--port',
    String(ports.redis),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    layout.data,
  ]);
  await Promise.all([
    waitFor('etcd', () => httpOk(`http://127.0.0.1:${ports.etcd}/health`, (b) => b.includes('true')), {
      timeoutMs: 30_000,
      pid: etcdPid,
      logFile: layout.log('etcd'),
    }),
    waitFor('nats-server', () => httpOk(`http://127.0.0.1:${ports.natsMonitor}/healthz`), {
      timeoutMs: 30_000,
      pid: natsPid,
      logFile: layout.log('nats'),
    }),
    waitFor('redis-server', () => redisPing(ports.redis), {
      timeoutMs: 30_000,
      pid: redisPid,
      logFile: layout.log('redis'),
    }),
  ]);

  log('testbed: starting kube-apiserver');
  writeFileSync(layout.auditPolicy, auditPolicyYaml());
  const apiPid = start('kube-apiserver', bin.apiserver, apiserverArgs(ports, pki));
  await waitForApiserver(ports.apiserver, pki, apiPid);
  const caFile = join(pki.certDir, 'apiserver.crt');
  writeFileSync(
    layout.kubeconfig,
    kubeconfigYaml(`https://127.0.0.1:${ports.apiserver}`, caFile, pki.adminToken),
    {
      mode: 0o600,
    },
  );

  log('testbed: starting kube-scheduler and kwok');
  const schedPid = start('kube-scheduler', bin.scheduler, [
    `--kubeconfig=${layout.kubeconfig}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.scheduler}`,
    '--v=0',
  ]);
  const kwokConfig = join(REPO_ROOT, 'testbed', 'kwok', 'stages.yaml');
  const kwokPid = start('kwok', bin.kwok, [
    `--kubeconfig=${layout.kubeconfig}`,
    `--config=${kwokConfig}`,
    `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
    `--server-address=127.0.0.1:${ports.kwok}`,
    '--cidr=10.244.0.0/16',
    '--node-lease-duration-seconds=0',
  ]);
  await waitFor(
    'kube-scheduler',
    async () => (await httpsGet(`https://127.0.0.1:${ports.scheduler}/healthz`, {})).status === 200,
    { timeoutMs: 60_000, pid: schedPid, logFile: layout.log('kube-scheduler') },
  );

  const kc = new KubeConfig();
  kc.loadFromFile(layout.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await waitFor(
    'the default namespace',
    async () => {
      await core.readNamespace({ name: 'default' });
      return true;
    },
    { timeoutMs: 30_000 },
  );
  log(
    'testbed: installing the KubeVirt CRDs (VirtualMachinePool, VirtualMachine, VirtualMachineInstance) and the node fleet',
  );
  const crds = [virtualMachinePoolCrd(), ...kubevirtVmCrds()];
  for (const crd of crds) await ensureCrd(ext, crd);
  await ensureNodes(core, defaultFleet(nodes));
  await Promise.all([
    ...crds.map((crd) =>
      waitFor(`CRD ${crd.metadata!.name}`, () => crdEstablished(ext, crd.metadata!.name!), {
        timeoutMs: 30_000,
      }),
    ),
    waitFor(`${nodes} kwok nodes Ready`, () => nodesReady(core, nodes), {
      timeoutMs: 60_000,
      pid: kwokPid,
      logFile: layout.log('kwok'),
    }),
  ]);
  const env = envOf(state);
  writeEnvFile(env);
  log(`testbed: up in ${((Date.now() - t0) / 1000).toFixed(1)} s; settings in ${ENV_FILE}`);
  return { env, reused: false, elapsedMs: Date.now() - t0 };
}

/** Stops every component (reverse order) and removes the settings; safe to call twice. */
export async function down(): Promise<void> {
  const errors: unknown[] = [];
  for (const c of [...COMPONENTS].reverse()) {
    try {
      await stopProcess(layout.pid(c));
    } catch (err) {
      errors.push(err);
    }
  }
  rmSync(ENV_FILE, { force: true });
  rmSync(layout.state, { force: true });
  rmSync(layout.etcdData(), { recursive: true, force: true });
  if (errors.length > 0) throw new TestbedError('could not stop every test bed component', { cause: errors });
}

export async function status(): Promise<{ up: boolean; components: Record<string, boolean> }> {
  const components: Record<string, boolean> = {};
  for (const c of COMPONENTS) {
    const pid = readPid(layout.pid(c));
    components[c] = pid !== undefined && isAlive(pid);
  }
  const s = readState();
  return { up: s !== undefined && (await healthy(s)), components };
}
