import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, CustomObjectsApi, HttpMethod, RequestContext, Watch } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { type KubeOutcome, type KubeVerb, kubeTarget, kubeVerb, statusClass } from './observe.ts';
import { PooledKubeConfig } from './pooled.ts';
import { kubeRequest } from './raw-request.ts';

describe('kubeVerb and kubeTarget', () => {
  it.each([
    ['GET', '/api/v1/namespaces/ns/pods/p', 'get', 'pods'],
    ['GET', '/api/v1/namespaces/ns/pods?labelSelector=a%3Db&limit=500', 'list', 'pods'],
    ['GET', '/api/v1/pods', 'list', 'pods'],
    ['GET', '/api/v1/namespaces/ns/pods?watch=true&resourceVersion=12', 'watch', 'pods'],
    ['GET', '/api/v1/watch/namespaces/ns/secrets', 'watch', 'secrets'],
    ['GET', '/api/v1/namespaces/ns/secrets/s', 'get', 'secrets'],
    ['POST', '/api/v1/namespaces/ns/secrets', 'create', 'secrets'],
    ['DELETE', '/api/v1/namespaces/ns/pods/p', 'delete', 'pods'],
    ['DELETE', '/api/v1/namespaces/ns/pods?labelSelector=x', 'deletecollection', 'pods'],
    ['PUT', '/api/v1/namespaces/ns/pods/p/status', 'update', 'pods'],
    ['GET', '/api/v1/nodes?limit=1', 'list', 'nodes'],
    ['GET', '/api/v1/namespaces/ns', 'get', 'namespaces'],
    ['PUT', '/api/v1/namespaces/ns/finalize', 'update', 'namespaces'],
    ['GET', '/api/v1/namespaces', 'list', 'namespaces'],
    [
      'GET',
      '/apis/pool.kubevirt.io/v1beta1/namespaces/vms/virtualmachinepools/p1',
      'get',
      'virtualmachinepools',
    ],
    [
      'PATCH',
      '/apis/pool.kubevirt.io/v1beta1/namespaces/vms/virtualmachinepools/p1/scale',
      'patch',
      'virtualmachinepools',
    ],
    ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'create', 'selfsubjectaccessreviews'],
    ['GET', '/apis/kubevirt.io/v1/virtualmachineinstances', 'list', 'virtualmachineinstances'],
    ['GET', '/apis', 'get', 'discovery'],
    ['GET', '/apis/apps/v1', 'get', 'discovery'],
    ['GET', '/version/', 'get', 'version'],
    ['GET', '/metrics', 'get', 'other'],
    ['OPTIONS', '/api/v1/pods', 'other', 'pods'],
  ] as const)('%s %s is %s of %s', (method, path, verb, resource) => {
    expect(kubeVerb(method, path)).toBe(verb);
    expect(kubeTarget(path).resource).toBe(resource);
  });

  it('never labels with something that is not a resource name', () => {
    expect(kubeTarget('/api/v1/namespaces/ns/Pods%20x/p').resource).toBe('other');
  });

  it('names status classes', () => {
    expect([200, 201, 204, 304, 404, 409, 422, 500, 503, 0].map(statusClass)).toEqual([
      '2xx',
      '2xx',
      '2xx',
      '3xx',
      '4xx',
      '4xx',
      '4xx',
      '5xx',
      '5xx',
      'error',
    ]);
  });
});

type Seen = [KubeVerb, string, KubeOutcome];

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

/**
 * A fake apiserver on loopback (plain HTTP, below a path as behind a proxy) and a
 * PooledKubeConfig for it whose observer records what it is told. `answer` may leave the
 * response open (a watch).
 */
async function fakeApiserver(answer: (url: string, res: ServerResponse) => void) {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req.url ?? '', res));
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const seen: Seen[] = [];
  const durations: number[] = [];
  const kc = new PooledKubeConfig({
    observer: (verb, resource, outcome, durationMs) => {
      seen.push([verb, resource, outcome]);
      durations.push(durationMs);
    },
  });
  const { port } = server.address() as AddressInfo;
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}/k8s/clusters/c1`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, seen, durations };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('PooledKubeConfig with an observer', () => {
  it('reports API client calls and raw requests once each, by verb, resource and status class', async () => {
    const { kc, seen, durations } = await fakeApiserver((url, res) => {
      if (url.includes('/pods/missing')) json(res, 404, { kind: 'Status', code: 404 });
      else if (url.includes('/secrets')) json(res, 500, { kind: 'Status', code: 500 });
      else if (url.includes('/pods')) json(res, 200, { kind: 'PodList', items: [] });
      else json(res, 201, { kind: 'SelfSubjectAccessReview', status: { allowed: true } });
    });
    const core = kc.makeApiClient(CoreV1Api);
    await core.listNamespacedPod({ namespace: 'ns' });
    await expect(core.readNamespacedPod({ name: 'missing', namespace: 'ns' })).rejects.toThrow();
    await expect(core.deleteNamespacedSecret({ name: 's', namespace: 'ns' })).rejects.toThrow();
    await kubeRequest(kc, {
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      body: { spec: {} },
    });
    expect(seen).toEqual([
      ['list', 'pods', '2xx'],
      ['get', 'pods', '4xx'],
      ['delete', 'secrets', '5xx'],
      ['create', 'selfsubjectaccessreviews', '2xx'],
    ]);
    for (const ms of durations) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('reports a custom resource call like any other', async () => {
    const { kc, seen } = await fakeApiserver((_url, res) => json(res, 200, { spec: { replicas: 2 } }));
    await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObjectScale({
      group: 'pool.kubevirt.io',
      version: 'v1beta1',
      namespace: 'vms',
      plural: 'virtualmachinepools',
      name: 'p1',
    });
    expect(seen).toEqual([['get', 'virtualmachinepools', '2xx']]);
  });

  it('reports a watch when its answer starts, not when it ends', async () => {
    let open: ServerResponse | undefined;
    const { kc, seen } = await fakeApiserver((_url, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'p' } } })}\n`);
      open = res;
    });
    const events: string[] = [];
    let ended!: () => void;
    const done = new Promise<void>((resolve) => {
      ended = resolve;
    });
    const gotEvent = new Promise<void>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/namespaces/ns/pods',
        {},
        (type) => {
          events.push(type);
          resolve();
        },
        () => ended(),
      );
    });
    await gotEvent;
    // Still open, and already counted.
    expect(seen).toEqual([['watch', 'pods', '2xx']]);
    open?.end();
    await done;
    expect(events).toEqual(['ADDED']);
    expect(seen).toEqual([['watch', 'pods', '2xx']]);
  });

  it('reports a request that got no answer as an error', async () => {
    const { kc, seen } = await fakeApiserver(() => {});
    // Nothing listens there any more: the connection is refused.
    await new Promise((r) => server?.close(r));
    server = undefined;
    await expect(kc.makeApiClient(CoreV1Api).listNode()).rejects.toThrow();
    expect(seen).toEqual([['list', 'nodes', 'error']]);
  });

  it('leaves the pool shared between requests', async () => {
    const { kc } = await fakeApiserver((_url, res) => json(res, 200, {}));
    const a = new RequestContext('http://127.0.0.1/api/v1/pods', HttpMethod.GET);
    const b = new RequestContext('http://127.0.0.1/api/v1/pods', HttpMethod.GET);
    await kc.applySecurityAuthentication(a);
    await kc.applySecurityAuthentication(b);
    expect(b.getDispatcher()).toBe(a.getDispatcher());
  });
});
