import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { kubeStatusOf, statusCodeOf } from './errors.ts';
import { PooledKubeConfig } from './pooled.ts';
import { KubeRequestError, kubeRequest } from './raw-request.ts';

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
  type: string | undefined;
  body: string;
}

/** A fake apiserver on loopback answering `answer`, and a kubeconfig for it (with a path prefix). */
async function fakeApiserver(answer: (seen: Seen) => [number, string]) {
  const seen: Seen[] = [];
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
        type: req.headers['content-type'],
        body,
      };
      seen.push(s);
      const [status, text] = answer(s);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const kc = new PooledKubeConfig();
  const port = (server.address() as AddressInfo).port;
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}/k8s/clusters/c1/`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { kc, seen };
}

describe('kubeRequest', () => {
  it('sends the body exactly as given, unknown fields included, with the credentials and query', async () => {
    const { kc, seen } = await fakeApiserver((s) => [201, s.body]);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      spec: { containers: [{ name: 'c', resourcez: { cpu: 1 } }] },
    };
    const answer = await kubeRequest(kc, {
      method: 'POST',
      path: '/api/v1/namespaces/ns/pods',
      query: { dryRun: 'All', fieldValidation: 'Strict' },
      body: pod,
    });
    expect(answer).toEqual(pod);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/k8s/clusters/c1/api/v1/namespaces/ns/pods?dryRun=All&fieldValidation=Strict',
      auth: 'Bearer the-token',
      type: 'application/json',
      body: JSON.stringify(pod),
    });
  });

  it("throws the apiserver's refusal as an error the kube error helpers read", async () => {
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message:
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.x"',
      reason: 'BadRequest',
      code: 400,
    };
    const { kc } = await fakeApiserver(() => [400, JSON.stringify(status)]);
    const err = await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces/ns/pods', body: {} }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeRequestError);
    expect(statusCodeOf(err)).toBe(400);
    expect(kubeStatusOf(err)).toMatchObject({ reason: 'BadRequest', message: status.message });
    // The credentials are not in the error.
    expect(JSON.stringify(err) + String(err)).not.toContain('the-token');
  });

  it('drops an answer over the size limit', async () => {
    const { kc } = await fakeApiserver(() => [200, JSON.stringify({ junk: 'x'.repeat(10_000) })]);
    await expect(kubeRequest(kc, { method: 'GET', path: '/api/v1/pods', maxBytes: 1_000 })).rejects.toThrow(
      "GET /api/v1/pods: the apiserver's answer is over 1000 bytes",
    );
  });
});
