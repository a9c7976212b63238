// client-node 2.0 builds a new undici Agent for every API call (KubeConfig's
// applySecurityAuthentication), so every request opens its own TCP and TLS connection,
// parses the CA again, and leaves the old agent's keep-alive socket behind. Measured on
// the test bed (bench/): TLS set-up was the scheduler's largest CPU cost. This KubeConfig
// keeps one Agent per (cluster, user), as client-node already does for its watch agents,
// so API calls reuse kept-alive connections. Credentials in headers (tokens, token files)
// are still applied per request; a rotated client certificate file takes a restart, as
// with client-node's own watch agents.
//
// Its API clients also send with undici's request rather than fetch (request-http.ts).
// Given an observer, the pool reports every request it carries (observe.ts): API calls,
// raw requests and watches alike.
import {
  type ApiConstructor,
  type ApiType,
  createConfiguration,
  KubeConfig,
  type RequestContext,
  ServerConfiguration,
  setHeaderMiddleware,
} from '@kubernetes/client-node';
import { getGlobalDispatcher } from 'undici';
import { type KubeRequestObserver, observingInterceptor } from './observe.ts';
import { RequestHttpLibrary } from './request-http.ts';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export interface PooledKubeConfigOptions {
  /** Told of every request sent with this configuration's credentials (see observe.ts). */
  readonly observer?: KubeRequestObserver | undefined;
}

export class PooledKubeConfig extends KubeConfig {
  readonly #dispatchers = new Map<string, Dispatcher>();
  readonly #http = new RequestHttpLibrary();
  readonly #observer: KubeRequestObserver | undefined;

  constructor(options: PooledKubeConfigOptions = {}) {
    super();
    this.#observer = options.observer;
  }

  /** As KubeConfig's own, with this library as the clients' httpApi. */
  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    return new apiClientType(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        httpApi: this.#http,
        middleware: [setHeaderMiddleware('User-Agent', 'longshore (kubernetes-client-javascript)')],
      }),
    );
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    // No TLS settings of its own (a public CA, a token): client-node leaves the request to
    // undici's global pool, which only needs wrapping when there is an observer.
    if (fresh === undefined && this.#observer === undefined) return;
    const key = JSON.stringify([this.getCurrentCluster()?.name ?? '', this.getCurrentUser()?.name ?? '']);
    const pooled = this.#dispatchers.get(key);
    if (pooled === undefined) {
      const d = this.#observed(fresh ?? getGlobalDispatcher());
      this.#dispatchers.set(key, d);
      context.setDispatcher(d);
    } else {
      context.setDispatcher(pooled);
      // Never connected: closing it costs nothing and frees it at once.
      void fresh?.close().catch(() => {});
    }
  }

  /** The pool as it is, or reporting each of its requests when there is an observer. */
  #observed(d: Dispatcher): Dispatcher {
    if (this.#observer === undefined) return d;
    // A server URL with a path (a proxy such as Rancher's) serves the API below that path.
    const basePath = new URL(this.getCurrentCluster()?.server ?? 'http://localhost/').pathname;
    return d.compose(observingInterceptor(this.#observer, basePath));
  }
}
