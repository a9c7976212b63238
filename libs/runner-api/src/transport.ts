// How the Runner API clients send a request: Node's own http and https modules, on one
// keep-alive pool per protocol. Two lighter choices were measured in the 1000-task
// benchmark (bench/README.md): fetch builds WHATWG Request, Response, Headers and stream
// objects around every call and kept the claimer's heap 15 to 30 MB larger than undici's
// `request`; and the undici package itself costs a process about 8 MB of resident memory
// just to load, which the claimer, the one service that loads no Kubernetes client (and so
// no undici), need not pay. node:http is in the binary, with its parser in C.
//
// Answers come from outside and are read with readBody, which stops at a size cap: a
// server (or anything in between) that answers with 50 MB would otherwise be buffered
// whole, and a claimer reading a few such answers at once would run out of memory.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * An answer's body as it arrives. A fetch Response's ReadableStream fits, so tests and
 * other callers can pass a fetch. Leaving a `for await` over it early (break or throw)
 * cancels it, as does cancel(): the connection is then dropped, never reused.
 */
export interface HttpBody extends AsyncIterable<Uint8Array> {
  cancel(reason?: unknown): Promise<void>;
}

/** What a client reads of an answer. A fetch Response fits, so tests can pass a fake fetch. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  /** Read it with readBody, which caps its size; null when the answer has none. */
  readonly body: HttpBody | null;
}

export interface HttpInit {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Covers the whole exchange: the body too stops with an error when it fires. */
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
    body: {
      // Node's stream iterator destroys the response when the loop is left before the end,
      // and destroying an unfinished response destroys its socket: the pool never gets
      // back a connection with unread bytes on it. Read to the end, the socket is reused.
      // It errors if the connection breaks or the signal fires before the end.
      [Symbol.asyncIterator]: () => res[Symbol.asyncIterator](),
      cancel: async () => {
        res.destroy();
      },
    },
  };
}

/** The default transport: node:http(s), keep-alive. The body must be read (readBody) or cancelled to free the connection. */
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

/**
 * An answer body larger than the reader's limit. Says only sizes, never a byte of the
 * body (which may echo a token).
 */
export class HttpBodyTooLargeError extends Error {
  override name = 'HttpBodyTooLargeError';
  readonly limitBytes: number;
  /** The size the server declared in content-length, when it declared one over the limit. */
  readonly declaredBytes: number | undefined;
  /** What had been read when reading stopped: 0 when content-length refused it up front. */
  readonly readBytes: number;

  constructor(limitBytes: number, size: { declared: number } | { read: number }) {
    const over = 'declared' in size ? `content-length ${size.declared}` : `stopped after ${size.read} bytes`;
    super(`body over the ${byteSize(limitBytes)} limit (${over})`);
    this.limitBytes = limitBytes;
    this.declaredBytes = 'declared' in size ? size.declared : undefined;
    this.readBytes = 'read' in size ? size.read : 0;
  }
}

/**
 * The body as UTF-8 text, or HttpBodyTooLargeError as soon as it is known to be larger
 * than maxBytes: at once from content-length, else when the bytes counted so far pass
 * it (chunked answers). Either way the body is cancelled, so its connection is dropped
 * rather than left to stream the rest. Slow bodies are the transport's signal's business:
 * the body errors when it fires.
 */
export async function readBody(
  answer: Pick<HttpAnswer, 'headers' | 'body'>,
  maxBytes: number,
): Promise<string> {
  const body = answer.body;
  if (body === null) return '';
  const declared = Number(answer.headers.get('content-length') ?? Number.NaN);
  if (Number.isSafeInteger(declared) && declared > maxBytes) {
    // Errors of a body we give up on say nothing the caller needs.
    await body.cancel().catch(() => {});
    throw new HttpBodyTooLargeError(maxBytes, { declared });
  }
  const chunks: Uint8Array[] = [];
  let read = 0;
  // Throwing out of the loop cancels the body (see HttpBody).
  for await (const chunk of body) {
    read += chunk.byteLength;
    if (read > maxBytes) throw new HttpBodyTooLargeError(maxBytes, { read });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * What a network error says in one word: `ECONNREFUSED` rather than fetch's bare "fetch
 * failed" (node:http throws the reason itself, fetch puts it in the cause).
 */
export function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return 'request failed';
  const inner = err.cause instanceof Error ? err.cause : err;
  const code = (inner as { code?: unknown }).code;
  return typeof code === 'string' ? code : inner.message;
}

/** `4 MiB`, `64 KiB`, `1000 bytes`: limits as people set them. */
function byteSize(n: number): string {
  if (n > 0 && n % 1_048_576 === 0) return `${n / 1_048_576} MiB`;
  if (n > 0 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
