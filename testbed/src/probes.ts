// Readiness probes for the test bed's servers, each speaking the server's own protocol.
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export async function httpOk(url: string, expect?: (body: string) => boolean): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const body = await res.text();
  return res.ok && (expect ? expect(body) : true);
}

/** GET over HTTPS with a bearer token; `ca` undefined means skip verification (self-signed health ports). */
export function httpsGet(
  url: string,
  opts: { token?: string; ca?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'GET',
        ca: opts.ca,
        rejectUnauthorized: opts.ca !== undefined,
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        timeout: 2_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Redis PING over a raw socket, so the test bed needs no Redis client library. */
export function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2_000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
