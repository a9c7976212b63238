// The GC as a process, as deployed: killed (SIGKILL) mid-sweep and restarted, it loses
// nothing and deletes nothing that is not ours; it warns at start about a threshold within
// the max run time.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Labels, MANAGED_BY, MANAGED_SELECTOR } from '@longshore/contracts';
import {
  readTestbedEnv,
  type ServiceProcess,
  spawnService,
  tempNamespace,
  testKube,
  waitFor,
} from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

const { core } = testKube();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

function startGcProcess(configFile: string, label: string): ServiceProcess {
  const gc = spawnService('gc', { configFile, kubeconfig: readTestbedEnv().KUBECONFIG, label });
  cleanups.push(() => kill(gc));
  return gc;
}

/** SIGKILL, as a node losing the pod would: no drain, no last words. */
async function kill(gc: ServiceProcess): Promise<void> {
  if (gc.running) gc.child.kill('SIGKILL');
  await gc.exited;
}

async function ours(ns: string) {
  return (await core.listNamespacedSecret({ namespace: ns, labelSelector: MANAGED_SELECTOR })).items.length;
}

/** Polls every 200 ms for up to 2 minutes; the timeout shows the GC's last lines. */
async function until(what: string, gc: ServiceProcess, probe: () => Promise<boolean>): Promise<void> {
  await waitFor(what, probe, { timeoutMs: 120_000, intervalMs: 200, detail: () => gc.tail() });
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

    const first = startGcProcess(configFile, 'gc-first');
    await until('the first GC to delete some', first, async () => (await ours(ns.name)) < N - 100);
    await kill(first);
    const afterKill = await ours(ns.name);
    expect(afterKill).toBeGreaterThan(0);
    expect(first.logged('gc threshold is not longer than maxRunTime')).toBe(true);

    const second = startGcProcess(configFile, 'gc-restarted');
    await until('the restarted GC to delete the rest', second, async () => (await ours(ns.name)) === 0);
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
