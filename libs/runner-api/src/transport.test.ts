import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closed, type Loopback, loopback, type Sent, streaming } from './loopback.test-support.ts';
import { HttpBodyTooLargeError, nodeHttpTransport, readBody } from './transport.ts';

let server: Loopback | undefined;
let sockets: Loopback['sockets'] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = await loopback(handler);
  sockets = server.sockets;
  return server.url;
}

const signal = () => AbortSignal.timeout(5_000);
const get = (url: string, s = signal()) => nodeHttpTransport(url, { method: 'GET', headers: {}, signal: s });
const MiB = 1024 * 1024;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

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
    expect(JSON.parse(await readBody(a, MiB))).toEqual({
      method: 'POST',
      auth: 'Bearer t',
      length: String(Buffer.byteLength(body)),
      body,
    });
  });

  it('keeps the connection alive between calls whose bodies were read', async () => {
    const url = await serve((_req, res) => res.end('{}'));
    for (let i = 0; i < 5; i++) {
      expect(await readBody(await get(`${url}/x`), 1024)).toBe('{}');
    }
    expect(sockets).toHaveLength(1);
  });

  it('rejects reading the body when the signal fires while it is still coming, and drops the connection', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"unclaimed_task_count":');
    });
    const ac = new AbortController();
    const a = await get(`${url}/slow`, ac.signal);
    const text = readBody(a, 1024);
    ac.abort(new Error('stop'));
    await expect(text).rejects.toThrow();
    await closed(sockets[0]);
  });

  it('rejects a connection refused with its code', async () => {
    const url = await serve((_req, res) => res.end());
    server?.close();
    await new Promise((r) => setTimeout(r, 10));
    await expect(get(`${url}/x`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('refuses other protocols', async () => {
    await expect(get('ftp://runner.example/x')).rejects.toThrow(
      'unsupported protocol "ftp:" (http: or https: only)',
    );
  });
});

describe('readBody (size cap)', () => {
  it('refuses a body whose content-length is over the limit without reading it, and drops the connection', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(50 * MiB) });
      res.write('{"task_token":"secret-in-body"');
    });
    const err = await rejection(readBody(await get(`${url}/big`), 4 * MiB));
    expect(err).toBeInstanceOf(HttpBodyTooLargeError);
    expect(err).toMatchObject({ limitBytes: 4 * MiB, declaredBytes: 50 * MiB, readBytes: 0 });
    expect((err as Error).message).toBe(`body over the 4 MiB limit (content-length ${50 * MiB})`);
    await closed(sockets[0]);
  });

  it('stops reading a chunked 50 MB body just past the limit and drops the connection', async () => {
    const sent: Sent = { bytes: 0, finished: false };
    const url = await serve(streaming(50 * MiB, sent));
    const err = await rejection(readBody(await get(`${url}/stream`), 4 * MiB));
    expect(err).toBeInstanceOf(HttpBodyTooLargeError);
    const { readBytes, declaredBytes } = err as HttpBodyTooLargeError;
    expect(declaredBytes).toBeUndefined();
    // Stopped at the first chunk past the limit: what was buffered is about the limit.
    expect(readBytes).toBeGreaterThan(4 * MiB);
    expect(readBytes).toBeLessThan(5 * MiB);
    expect((err as Error).message).toBe(`body over the 4 MiB limit (stopped after ${readBytes} bytes)`);
    await closed(sockets[0]);
    // The server never got to send it all: the client did not keep reading to the end.
    expect(sent.finished).toBe(false);
    expect(sent.bytes).toBeLessThan(50 * MiB);
  });

  it('reads a body of exactly the limit, and a UTF-8 character split across chunks', async () => {
    const text = `"${'ü'.repeat(40_000)}"`; // 80002 bytes, more than one chunk
    const url = await serve((_req, res) => {
      const bytes = Buffer.from(text);
      res.write(bytes.subarray(0, 1001)); // splits a two-byte character
      res.end(bytes.subarray(1001));
    });
    expect(await readBody(await get(`${url}/exact`), Buffer.byteLength(text))).toBe(text);
    expect(await rejection(readBody(await get(`${url}/exact`), Buffer.byteLength(text) - 1))).toBeInstanceOf(
      HttpBodyTooLargeError,
    );
  });

  it('uses a new connection after an oversized answer, and the old one is not reused', async () => {
    const url = await serve((req, res) => res.end(req.url === '/big' ? 'x'.repeat(2048) : '{}'));
    expect(await readBody(await get(`${url}/small`), 1024)).toBe('{}');
    expect(await rejection(readBody(await get(`${url}/big`), 1024))).toBeInstanceOf(HttpBodyTooLargeError);
    await closed(sockets[0]);
    expect(await readBody(await get(`${url}/small`), 1024)).toBe('{}');
    expect(sockets).toHaveLength(2);
  });

  it('caps a fetch Response the same way, by content-length and while streaming', async () => {
    const sent: Sent = { bytes: 0, finished: false };
    const url = await serve((req, res) =>
      req.url === '/declared' ? res.end('x'.repeat(2 * MiB)) : streaming(50 * MiB, sent)(req, res),
    );
    const declared = await rejection(readBody(await fetch(`${url}/declared`), MiB));
    expect(declared).toMatchObject({ name: 'HttpBodyTooLargeError', declaredBytes: 2 * MiB });
    const streamed = await rejection(readBody(await fetch(`${url}/stream`), MiB));
    expect(streamed).toMatchObject({ name: 'HttpBodyTooLargeError', declaredBytes: undefined });
    expect((streamed as HttpBodyTooLargeError).readBytes).toBeLessThan(2 * MiB);
    await Promise.all(sockets.map(closed));
    expect(sent.finished).toBe(false);
    expect(await readBody(new Response('{"ok":true}'), 1024)).toBe('{"ok":true}');
    expect(await readBody(new Response(null, { status: 204 }), 0)).toBe('');
  });
});
