// How the Runner API clients send a request: Node's own http and https modules, on one
// keep-alive pool per protocol. Two lighter choices were measured in the 1000-task
// benchmark (bench/README.md): fetch builds WHATWG Request, Response, Headers and stream
// objects around every call and kept the claimer's heap 15 to 30 MB larger than undici's
// `request`; and the undici package itself costs a process about 8 MB of resident memory
// just to load, which the claimer, the one service that loads no Kubernetes client (and so
// no undici), need not pay. node:http is in the binary, with its parser in C.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { text } from 'node:stream/consumers';

/** What a client reads of an answer. A fetch Response fits, so tests can pass a fake fetch. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface HttpInit {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

/** Sends one request; rejects on network failure or abort, like fetch. */
export type HttpTransport = (url: string, init: HttpInit) => Promise<HttpAnswer>;

const pools = {
  'http:': { send: httpRequest, agent: new HttpAgent({ keepAlive: true }) },
  'https:': { send: httpsRequest, agent: new HttpsAgent({ keepAlive: true }) },
} as const;

function answerOf(res: IncomingMessage): HttpAnswer {
  return {
    status: res.statusCode ?? 0,
    headers: {
      get(name) {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    },
    // Rejects if the connection breaks or the signal fires before the body has ended.
    text: () => text(res),
  };
}

/** The default transport: node:http(s), keep-alive. The body must be read (text()) to free the connection. */
export const nodeHttpTransport: HttpTransport = (url, init) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const pool =
      target.protocol === 'http:' || target.protocol === 'https:' ? pools[target.protocol] : undefined;
    if (!pool) {
      reject(new TypeError(`unsupported protocol "${target.protocol}" (http: or https: only)`));
      return;
    }
    const headers = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    const req = pool.send(
      target,
      { method: init.method, headers, agent: pool.agent, signal: init.signal },
      (res) => resolve(answerOf(res)),
    );
    req.on('error', reject);
    req.end(init.body);
  });
