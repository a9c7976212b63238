// How the Runner API clients send a request: undici's `request`, not `fetch`. Both are
// undici (the npm copy, the one client-node loads too), but fetch builds WHATWG Request,
// Response, Headers and stream objects around every call, and a process making a few
// thousand calls keeps a much larger heap for it: in the 1000-task benchmark the claimer
// peaked 15 to 30 MB lower, with less CPU, once it stopped using fetch (bench/README.md).
import { request } from 'undici';

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

/** The default transport: undici's request, on its global keep-alive pool. */
export const undiciTransport: HttpTransport = async (url, init) => {
  const r = await request(url, {
    method: init.method,
    headers: init.headers,
    signal: init.signal,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return {
    status: r.statusCode,
    headers: {
      get(name) {
        const v = r.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    },
    text: () => r.body.text(),
  };
};
