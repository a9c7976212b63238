import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeHttpTransport } from './transport.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const signal = () => AbortSignal.timeout(5_000);

describe('nodeHttpTransport (real HTTP on loopback)', () => {
  it('sends method, headers and a JSON body with its length, and reads status, headers and body', async () => {
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        res.setHeader('retry-after', '3');
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            method: req.method,
            auth: req.headers.authorization,
            length: req.headers['content-length'],
            body,
          }),
        );
      });
    });
    const body = JSON.stringify({ name: 'runner-ü' });
    const a = await nodeHttpTransport(`${url}/api/v3/runner/claim`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body,
      signal: signal(),
    });
    expect(a.status).toBe(200);
    expect(a.headers.get('Retry-After')).toBe('3');
    expect(a.headers.get('x-missing')).toBeNull();
    expect(JSON.parse(await a.text())).toEqual({
      method: 'POST',
      auth: 'Bearer t',
      length: String(Buffer.byteLength(body)),
      body,
    });
  });

  it('keeps the connection alive between calls', async () => {
    let connections = 0;
    const url = await serve((_req, res) => res.end('{}'));
    server?.on('connection', () => {
      connections++;
    });
    for (let i = 0; i < 5; i++) {
      const a = await nodeHttpTransport(`${url}/x`, { method: 'GET', headers: {}, signal: signal() });
      expect(await a.text()).toBe('{}');
    }
    expect(connections).toBe(1);
  });

  it('rejects text() when the signal fires while the body is still coming', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"unclaimed_task_count":');
    });
    const ac = new AbortController();
    const a = await nodeHttpTransport(`${url}/slow`, { method: 'GET', headers: {}, signal: ac.signal });
    const text = a.text();
    ac.abort(new Error('stop'));
    await expect(text).rejects.toThrow();
  });

  it('rejects a connection refused with its code', async () => {
    const url = await serve((_req, res) => res.end());
    server?.close();
    await new Promise((r) => setTimeout(r, 10));
    await expect(
      nodeHttpTransport(`${url}/x`, { method: 'GET', headers: {}, signal: signal() }),
    ).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('refuses other protocols', async () => {
    await expect(
      nodeHttpTransport('ftp://runner.example/x', { method: 'GET', headers: {}, signal: signal() }),
    ).rejects.toThrow('unsupported protocol "ftp:" (http: or https: only)');
  });
});
