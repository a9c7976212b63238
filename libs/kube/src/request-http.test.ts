import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { PooledKubeConfig } from './pooled.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

interface Seen {
  method: string | undefined;
  url: string | undefined;
  auth: string | undefined;
  agent: string | undefined;
  body: string;
}

/** A fake apiserver on loopback (plain HTTP) and a PooledKubeConfig pointing at it. */
async function fakeApiserver(answer: (seen: Seen) => [number, unknown]) {
  const seen: Seen[] = [];
  let connections = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const s = {
        method: req.method,
        url: req.url,
        auth: req.headers.authorization,
        agent: req.headers['user-agent'],
        body,
      };
      seen.push(s);
      const [status, json] = answer(s);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    });
  });
  server.on('connection', () => {
    connections++;
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
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, seen, connections: () => connections };
}

describe('PooledKubeConfig API clients (undici request, fake apiserver on loopback)', () => {
  it('send the object as JSON with the credentials, and read the answer into a typed object', async () => {
    const { kc, seen } = await fakeApiserver((s) => [
      201,
      { ...JSON.parse(s.body), metadata: { name: 't', namespace: 'ns', uid: 'u1' } },
    ]);
    const core = kc.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedSecret({
      namespace: 'ns',
      body: { metadata: { name: 't' }, stringData: { token: 'x' } },
    });
    expect(created.metadata?.uid).toBe('u1');
    expect(created.stringData).toEqual({ token: 'x' });
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/api/v1/namespaces/ns/secrets',
      auth: 'Bearer the-token',
      agent: 'longshore (kubernetes-client-javascript)',
    });
    expect(JSON.parse(seen[0]!.body)).toEqual({ metadata: { name: 't' }, stringData: { token: 'x' } });
  });

  it('raise the apiserver refusal as an ApiException with its status and body', async () => {
    const status = { kind: 'Status', code: 404, reason: 'NotFound', message: 'pods "p" not found' };
    const { kc } = await fakeApiserver(() => [404, status]);
    const err = await kc
      .makeApiClient(CoreV1Api)
      .readNamespacedPod({ name: 'p', namespace: 'ns' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(404);
    expect(JSON.parse(String((err as ApiException<unknown>).body))).toEqual(status);
  });

  it('reuse kept-alive connections for successive calls', async () => {
    const { kc, connections } = await fakeApiserver(() => [200, { kind: 'Status', code: 200 }]);
    const core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 10; i++) await core.deleteNamespacedPod({ name: `p${i}`, namespace: 'ns' });
    // A call may start before the last one's socket is back in the pool: then a second
    // connection opens, and both are reused (client-node's own KubeConfig opens ten).
    expect(connections()).toBeLessThanOrEqual(2);
  });
});
