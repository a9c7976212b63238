// What the benchmarks need from the test bed's apiserver: kubeconfigs for the bench users
// (whose requests the audit log counts), a namespace of their own, and extra kwok nodes
// that are removed again afterwards.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '@longshore/kube';
import {
  type BenchUser,
  benchToken,
  layout,
  nodeObject,
  type TempNamespace,
  tempNamespace,
} from '@longshore/testbed';
import { stringify } from 'yaml';

/** Label on everything the bench creates outside its namespace (nodes), valued with the run id. */
export const BENCH_LABEL = 'longshore.io/bench';

export function adminKube(kubeconfig: string): { kc: KubeConfig; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/** Writes a kubeconfig for a bench user (same server and CA as the admin's) into dir. */
export function benchKubeconfig(admin: KubeConfig, user: BenchUser, dir: string): string {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the test bed kubeconfig has no current cluster');
  const file = join(dir, `kubeconfig-${user}`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'testbed', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } },
      ],
      users: [{ name: user, user: { token: benchToken(join(layout.pki, 'tokens.csv'), user) } }],
      contexts: [{ name: user, context: { cluster: 'testbed', user } }],
      'current-context': user,
    }),
    { mode: 0o600 },
  );
  return file;
}

/**
 * A bench user's client. Keep-alive connections, as the services' own clients have
 * (@longshore/kube's PooledKubeConfig): client-node alone opens a TCP and TLS connection
 * per request, which would make the baseline slower than a sensible minimal client.
 */
export function loadKube(file: string): KubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/** A namespace for one phase, labelled BENCH_LABEL=stem (the test bed's tempNamespace). */
export function benchNamespace(core: CoreV1Api, stem: string): Promise<TempNamespace> {
  return tempNamespace(core, stem, BENCH_LABEL);
}

const isReady = (n: { status?: { conditions?: { type: string; status: string }[] } }) =>
  (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/**
 * Tops the kwok fleet up to `total` Ready nodes with nodes labelled BENCH_LABEL=runId
 * (alternating amd64/arm64, 16 CPU, 64Gi, 110 pods); returns how many it added.
 */
export async function addNodes(core: CoreV1Api, runId: string, total: number): Promise<number> {
  const existing = (await core.listNode({ labelSelector: 'type=kwok' })).items.filter(isReady).length;
  const extra = Math.max(0, total - existing);
  const queue = Array.from({ length: extra }, (_, i) => i);
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const arch = i % 2 === 0 ? 'amd64' : 'arm64';
      await core.createNode({
        body: nodeObject({
          name: `bench-${runId}-${i}`,
          arch,
          cpu: '16',
          memory: '64Gi',
          pods: '110',
          labels: { [BENCH_LABEL]: runId },
        }),
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = (await core.listNode({ labelSelector: `${BENCH_LABEL}=${runId}` })).items.filter(isReady);
    if (ready.length >= extra) return extra;
    if (Date.now() > deadline)
      throw new Error(`only ${ready.length} of ${extra} added kwok nodes became Ready`);
    await sleep(500);
  }
}

export async function removeNodes(core: CoreV1Api, runId: string): Promise<void> {
  await core.deleteCollectionNode({ labelSelector: `${BENCH_LABEL}=${runId}` });
}
