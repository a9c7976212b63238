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

/** A reply as RESP2 gives it: a status or bulk string, an integer, or null. */
export type RedisReply = string | number | null;

/** A Redis error reply (`-ERR ...`). */
export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

/**
 * One Redis command over a raw socket (RESP2), for the test bed's few admin commands
 * (REPLICAOF, INFO). Array replies are not read: none of those commands gives one.
 */
export function redisCommand(port: number, args: readonly string[], timeoutMs = 5_000): Promise<RedisReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const finish = (err: Error | undefined, reply?: RedisReply) => {
      sock.destroy();
      if (err) reject(err);
      else resolve(reply ?? null);
    };
    sock.setTimeout(timeoutMs, () => finish(new Error(`redis ${args[0]} on port ${port}: no answer`)));
    sock.on('error', (err) => finish(err));
    // A proxy in front may close the connection without an error (its upstream is gone).
    sock.on('close', () => finish(new Error(`redis ${args[0]} on port ${port}: connection closed`)));
    sock.on('connect', () => {
      const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`);
      sock.write(`*${args.length}\r\n${parts.join('')}`);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(1, eol).toString();
      switch (String.fromCharCode(buf[0]!)) {
        case '+':
          return finish(undefined, head);
        case '-':
          return finish(new RedisReplyError(`redis ${args[0]} on port ${port}: ${head}`));
        case ':':
          return finish(undefined, Number(head));
        case '$': {
          const len = Number(head);
          if (len < 0) return finish(undefined, null);
          if (buf.length < eol + 2 + len + 2) return; // the rest is still coming
          return finish(undefined, buf.subarray(eol + 2, eol + 2 + len).toString());
        }
        default:
          return finish(new RedisReplyError(`redis ${args[0]} on port ${port}: unexpected reply ${head}`));
      }
    });
  });
}

/** The `field:value` lines of an INFO section as a record. */
export function parseRedisInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
