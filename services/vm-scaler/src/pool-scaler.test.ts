// KubePoolScaler against a fake apiserver on loopback: what it reads of a pool.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { PooledKubeConfig } from '@longshore/kube';
import { afterEach, describe, expect, it } from 'vitest';
import { KubePoolScaler, PoolScaleError } from './pool-scaler.ts';

const POOL = { namespace: 'vms', name: 'pool-a' };

let server: Server | undefined;
async function closeServer(): Promise<void> {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
}
afterEach(closeServer);

/** A scaler whose apiserver answers every request with `status` and `body`; the paths asked are recorded. */
async function scalerAnswering(status: number, body: unknown) {
  const paths: string[] = [];
  server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const kc = new PooledKubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { scaler: new KubePoolScaler(kc.makeApiClient(CustomObjectsApi)), paths };
}

describe('KubePoolScaler.size', () => {
  it("reads the desired replicas and the ready ones from the pool object's spec and status", async () => {
    const { scaler, paths } = await scalerAnswering(200, {
      kind: 'VirtualMachinePool',
      spec: { replicas: 5 },
      status: { replicas: 5, readyReplicas: 3 },
    });
    expect(await scaler.size(POOL)).toEqual({ replicas: 5, readyReplicas: 3 });
    expect(paths).toEqual(['GET /apis/pool.kubevirt.io/v1beta1/namespaces/vms/virtualmachinepools/pool-a']);
  });

  it('takes counts left out (0, or no status yet) as 0', async () => {
    const { scaler } = await scalerAnswering(200, { kind: 'VirtualMachinePool', spec: {} });
    expect(await scaler.size(POOL)).toEqual({ replicas: 0, readyReplicas: 0 });
  });

  it('says not-found for a pool that is gone, and refuses counts that are not counts', async () => {
    const gone = await scalerAnswering(404, { kind: 'Status', code: 404, reason: 'NotFound' });
    await expect(gone.scaler.size(POOL)).rejects.toMatchObject({ name: 'PoolScaleError', kind: 'not-found' });
    await closeServer();
    const odd = await scalerAnswering(200, { spec: { replicas: -1 } });
    const err = await odd.scaler.size(POOL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolScaleError);
    expect(err).toMatchObject({
      kind: 'api',
      message: 'VirtualMachinePool vms/pool-a has no readable replica counts',
    });
  });
});
