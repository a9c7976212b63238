// Counting and timing every apiserver call of a process, whichever way it is sent: the API
// clients (request-http.ts), raw requests (raw-request.ts) and client-node's watches (its
// Watch class fetches by itself) all go through the connection pool PooledKubeConfig hands
// out, so the observer sits there, as an undici interceptor, and sees each exchange once.
// Labels are bounded: a verb, the resource's plural name (never an object's name or
// namespace) and the HTTP status class.
import type { Dispatcher } from 'undici';

/** As the apiserver's own metrics name verbs: a GET is a get, a list or a watch. */
export type KubeVerb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection'
  | 'other';

/** How an exchange ended: the answer's status class, or `error` when no whole answer came. */
export type KubeOutcome = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'error';

/**
 * Called once per apiserver request. `resource` is the plural resource (`pods`, `secrets`,
 * `virtualmachinepools`, `selfsubjectaccessreviews`), `discovery` for the API listings,
 * the path's name for a few others (`version`, `healthz`, ...) and `other` beyond that.
 */
export type KubeRequestObserver = (
  verb: KubeVerb,
  resource: string,
  outcome: KubeOutcome,
  durationMs: number,
) => void;

/** Paths outside /api and /apis that are worth their own label; any other is `other`. */
const NON_RESOURCE = new Set(['version', 'healthz', 'livez', 'readyz', 'openapi']);
/** Subresources of a Namespace, which sit where a namespaced resource's name would. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const RESOURCE_RE = /^[a-z0-9][a-z0-9.-]*$/;

interface Target {
  readonly resource: string;
  /** The path names one object (a get, not a list; a delete, not a deletecollection). */
  readonly named: boolean;
  /** The old `/watch/` form of a watch path. */
  readonly watchPath: boolean;
}

/** What an API path points at: `/api/v1/namespaces/ns/pods/p/status` is `pods`, named. */
export function kubeTarget(path: string): Target {
  const segments = path.split('?', 1)[0]!.split('/').filter(Boolean);
  // A listing of the API or a path such as /version is one document: a GET of it is a get.
  const none = (resource: string): Target => ({ resource, named: true, watchPath: false });
  // /api/<version>/... (the core group) and /apis/<group>/<version>/...
  const skip = segments[0] === 'api' ? 2 : segments[0] === 'apis' ? 3 : 0;
  if (skip === 0) return none(NON_RESOURCE.has(segments[0] ?? '') ? segments[0]! : 'other');
  let rest = segments.slice(skip);
  const watchPath = rest[0] === 'watch';
  if (watchPath) rest = rest.slice(1);
  if (rest.length === 0) return none('discovery');
  let resource: string;
  let named: boolean;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) {
    resource = rest[2]!;
    named = rest.length >= 4;
  } else {
    resource = rest[0]!;
    named = rest.length >= 2;
  }
  return { resource: RESOURCE_RE.test(resource) ? resource : 'other', named, watchPath };
}

/** The verb of a request, from its method and path (query included). */
export function kubeVerb(method: string, path: string): KubeVerb {
  const target = kubeTarget(path);
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD': {
      const watch = new URLSearchParams(path.split('?')[1] ?? '').get('watch');
      if (target.watchPath || watch === 'true' || watch === '1') return 'watch';
      return target.named ? 'get' : 'list';
    }
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return target.named ? 'delete' : 'deletecollection';
    default:
      return 'other';
  }
}

/** `2xx` for 200 to 299, and so on; `error` for what is not an HTTP status. */
export function statusClass(status: number): KubeOutcome {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? (`${c}xx` as KubeOutcome) : 'error';
}

/**
 * An undici interceptor that reports every request to `observe` once. `basePath` is the
 * path of the cluster's server URL (a proxy such as Rancher serves the API below one), taken
 * off before the path is read. A request counts
 * when its answer has been read to the end, or when it fails (`error`, even after a 2xx
 * status: the caller got no whole answer). A watch counts when its answer starts (the
 * status line and headers): it then streams events for minutes, and its duration is the
 * time to open it, not how long it stayed open; how it ends later is not counted again.
 */
export function observingInterceptor(
  observe: KubeRequestObserver,
  basePath = '',
): Dispatcher.DispatcherComposeInterceptor {
  const base = basePath.replace(/\/+$/, '');
  return (dispatch) => (opts, handler) => {
    const full = opts.path ?? '';
    const path = base !== '' && full.startsWith(`${base}/`) ? full.slice(base.length) : full;
    const verb = kubeVerb(String(opts.method ?? 'GET'), path);
    const resource = kubeTarget(path).resource;
    const started = performance.now();
    let counted = false;
    let status: number | undefined;
    const count = (outcome: KubeOutcome) => {
      if (counted) return;
      counted = true;
      observe(verb, resource, outcome, performance.now() - started);
    };
    // Every hook passed on as it came: only the outcome is read on the way.
    const observed: Dispatcher.DispatchHandler = {
      onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
      onRequestUpgrade: (controller, statusCode, headers, socket) =>
        handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
      onResponseStarted: () => handler.onResponseStarted?.(),
      onResponseStart: (controller, statusCode, headers, statusMessage) => {
        // 1xx answers (103 Early Hints) come before the real one.
        if (statusCode >= 200) {
          status = statusCode;
          if (verb === 'watch') count(statusClass(statusCode));
        }
        return handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
      },
      onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
      onResponseEnd: (controller, trailers) => {
        count(status === undefined ? 'error' : statusClass(status));
        return handler.onResponseEnd?.(controller, trailers);
      },
      onResponseError: (controller, error) => {
        count('error');
        return handler.onResponseError?.(controller, error);
      },
      onBodySent: (chunk) => handler.onBodySent?.(chunk),
      onRequestSent: () => handler.onRequestSent?.(),
    };
    try {
      return dispatch(opts, observed);
    } catch (err) {
      count('error');
      throw err;
    }
  };
}
