// The GC as a process, as deployed: killed (SIGKILL) mid-sweep and restarted, it loses
// nothing and deletes nothing that is not ours; it warns at start about a threshold within
// the max run time.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Labels, MANAGED_BY, MANAGED_SELECTOR } from '@longshore/contracts';
import { tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

const { core } = testKube();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');

function startGcProcess(configFile: string, logs: string[]) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, LONGSHORE_CONFIG: configFile, KUBECONFIG: process.env.KUBECONFIG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) logs.push(line);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(kill);
  return { kill };
}

async function ours(ns: string) {
  return (await core.listNamespacedSecret({ namespace: ns, labelSelector: MANAGED_SELECTOR })).items.length;
}

async function waitFor(what: string, probe: () => Promise<boolean>, logs: string[], timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n${logs.slice(-20).join('\n')}`);
    await sleep(200);
  }
}

describe('gc process', () => {
  it('killed mid-sweep and restarted, deletes every old object of ours and nothing else', async () => {
    const ns = await tempNamespace(core, 'gcproc');
    cleanups.push(ns.cleanup);
    const N = 1_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < N) {
          const i = next++;
          await core.createNamespacedSecret({
            namespace: ns.name,
            body: { metadata: { name: `old-${i}`, labels: { [Labels.managedBy]: MANAGED_BY } } },
          });
        }
      }),
    );
    const keep = ['bare', 'foreign'];
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'bare' } } });
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'foreign', labels: { [Labels.managedBy]: 'circleci-container-agent' } } },
    });
    const prefix = `gcp${randomBytes(4).toString('hex')}`;
    const cfg = {
      agent: {
        namespace: ns.name,
        gc: { interval: '2s', threshold: '1s', maxRequestsPerSecond: 100, batchSize: 20 },
      },
      bus: { url: process.env.NATS_URL, prefix },
      redis: { url: process.env.REDIS_URL, keyPrefix: prefix },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    };
    const configFile = join(mkdtempSync(join(tmpdir(), 'longshore-gc-')), 'config.yaml');
    // JSON is YAML: no yaml dependency needed to write the config.
    writeFileSync(configFile, JSON.stringify(cfg));
    const logs: string[] = [];

    const first = startGcProcess(configFile, logs);
    await waitFor('the first GC to delete some', async () => (await ours(ns.name)) < N - 100, logs);
    await first.kill();
    const afterKill = await ours(ns.name);
    expect(afterKill).toBeGreaterThan(0);
    expect(logs.some((l) => l.includes('gc threshold is not longer than maxRunTime'))).toBe(true);

    startGcProcess(configFile, logs);
    await waitFor('the restarted GC to delete the rest', async () => (await ours(ns.name)) === 0, logs);
    const left = (await core.listNamespacedSecret({ namespace: ns.name })).items.map(
      (s) => s.metadata!.name!,
    );
    expect(left.filter((n) => !n.startsWith('default-token'))).toEqual(expect.arrayContaining(keep));
    expect(left.filter((n) => n.startsWith('old-'))).toEqual([]);
    console.log(
      `gc process: killed with ${afterKill} of ${N} old Secrets left; the restarted GC deleted the rest`,
    );
  }, 300_000);
});
