// One apiserver call with the body sent exactly as given. client-node's API clients pass
// every object through its ObjectSerializer, which keeps only the fields its models know:
// a misspelt field in a resource class's spec would be dropped before the apiserver could
// refuse it. A server-side dry run with strict field validation must see the object as
// written, so it goes through here: the same credentials and (with PooledKubeConfig) the
// same kept-alive connections as the API clients, JSON in and out, and an answer of bounded
// size within a deadline.
import { HttpMethod, type KubeConfig, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, request } from 'undici';

/** The apiserver answered, but not with 2xx. `body` is its answer as text (a Status, usually). */
export class KubeRequestError extends Error {
  override readonly name = 'KubeRequestError';
  /** The HTTP status, read by statusCodeOf and isKubeUnavailable like client-node's errors. */
  readonly statusCode: number;
  /** Read by kubeStatusOf; at most the answer size limit. */
  readonly body: string;

  constructor(method: string, path: string, statusCode: number, body: string) {
    super(`${method} ${path}: HTTP ${statusCode}`);
    this.statusCode = statusCode;
    this.body = body;
  }
}

export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Below the cluster's server URL, e.g. `/api/v1/namespaces/ns/pods`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as JSON.stringify writes it. */
  readonly body?: unknown;
  /** Whole exchange, body included. Default 30 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Answers longer than this fail the call. Default 4 MiB (etcd keeps no object over ~1.5 MiB). */
  readonly maxBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Sends one request to the current cluster and returns its 2xx answer parsed as JSON
 * (undefined when empty). A non-2xx answer throws KubeRequestError; no answer (network, TLS,
 * deadline) throws undici's or the signal's error, as client-node's calls do.
 */
export async function kubeRequest(kc: KubeConfig, req: KubeRequest): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(`${cluster.server.replace(/\/+$/, '')}${req.path}`);
  for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
  const context = new RequestContext(url.toString(), HttpMethod[req.method]);
  context.setHeaderParam('Accept', 'application/json');
  context.setHeaderParam('User-Agent', 'longshore (kubernetes-client-javascript)');
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  if (body !== undefined) context.setHeaderParam('Content-Type', 'application/json');
  // Tokens, client certificates and the CA, as for any API call (PooledKubeConfig pools the agent).
  await kc.applySecurityAuthentication(context);
  const deadline = AbortSignal.timeout(req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = req.signal ? AbortSignal.any([req.signal, deadline]) : deadline;
  const res = await request(context.getUrl(), {
    method: req.method as Dispatcher.HttpMethod,
    headers: context.getHeaders(),
    dispatcher: context.getDispatcher(),
    signal,
    ...(body === undefined ? {} : { body }),
  });
  const text = await readCapped(res.body, req.maxBytes ?? DEFAULT_MAX_BYTES, `${req.method} ${req.path}`);
  if (res.statusCode < 200 || res.statusCode > 299) {
    throw new KubeRequestError(req.method, req.path, res.statusCode, text);
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${req.method} ${req.path}: the apiserver's answer is not JSON`, { cause: err });
  }
}

/** The body as text; over `max` bytes the connection is dropped and the call fails. */
async function readCapped(
  body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown },
  max: number,
  what: string,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) {
      const err = new Error(`${what}: the apiserver's answer is over ${max} bytes`);
      body.destroy(err);
      throw err;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
