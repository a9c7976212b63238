import { Agent, get } from 'node:http';
import { Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type HealthServer, startHealthServer } from './health.ts';
import { createMetricsRegistry } from './metrics.ts';

/** A server on a free loopback port that is always ready, with its own registry. */
const startOnLoopback = () =>
  startHealthServer({ host: '127.0.0.1', port: 0, ready: () => true, registry: createMetricsRegistry('x') });

describe('startHealthServer (real HTTP on loopback)', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('answers /livez, and /readyz according to ready()', async () => {
    let ready = false;
    const registry = createMetricsRegistry('test');
    server = await startHealthServer({ host: '127.0.0.1', port: 0, ready: () => ready, registry });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);

    const live = await fetch(`${server.url}/livez`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });

    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready' });

    ready = true;
    const nowReady = await fetch(`${server.url}/readyz`);
    expect(nowReady.status).toBe(200);
    expect(await nowReady.json()).toEqual({ status: 'ready' });
  });

  it('treats a ready() that rejects as not ready', async () => {
    const registry = createMetricsRegistry('test');
    server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      ready: async () => {
        throw new Error('redis down');
      },
      registry,
    });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  });

  it('serves the given registry as Prometheus text, with the service label', async () => {
    const registry = createMetricsRegistry('claimer');
    const claims = new Counter({
      name: 'longshore_claims_total',
      help: 'Tasks claimed',
      registers: [registry],
    });
    claims.inc(3);
    server = await startHealthServer({ host: '127.0.0.1', port: 0, ready: () => true, registry });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('longshore_claims_total{service="claimer"} 3');
    expect(text).toMatch(/process_cpu_user_seconds_total\{service="claimer"\}/);
  });

  it('answers 404 for other paths and 405 for other methods; HEAD and a query string are fine', async () => {
    server = await startOnLoopback();
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ status: 'not found' });
    const post = await fetch(`${server.url}/readyz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${server.url}/livez`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${server.url}/readyz?verbose=1`)).status).toBe(200);
  });

  it('rejects when the port is taken, naming the address', async () => {
    server = await startOnLoopback();
    await expect(
      startHealthServer({
        host: '127.0.0.1',
        port: server.port,
        ready: () => true,
        registry: createMetricsRegistry('y'),
      }),
    ).rejects.toThrow(`127.0.0.1:${server.port}`);
  });

  it("close() does not wait for a scraper's idle keep-alive connection", async () => {
    const s = await startOnLoopback();
    const agent = new Agent({ keepAlive: true });
    const status = await new Promise<number | undefined>((resolve, reject) => {
      get(`${s.url}/metrics`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      }).on('error', reject);
    });
    expect(status).toBe(200);
    expect(agent.freeSockets).not.toEqual({});
    await s.close();
    agent.destroy();
  });

  it('close() is idempotent', async () => {
    const s = await startOnLoopback();
    await Promise.all([s.close(), s.close()]);
    await s.close();
    await expect(fetch(`${s.url}/livez`)).rejects.toThrow();
  });
});

describe('createMetricsRegistry', () => {
  it('gives each service its own registry', async () => {
    const a = createMetricsRegistry('a');
    const b = createMetricsRegistry('b');
    new Counter({ name: 'only_in_a', help: 'x', registers: [a] });
    expect(await a.metrics()).toContain('only_in_a');
    expect(await b.metrics()).not.toContain('only_in_a');
  });
});
