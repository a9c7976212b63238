// What every service's main.ts does first: load and validate the config (a bad one stops
// the process with the path and reason, exit 2), make the logger that scrubs every secret
// in that config, the metrics registry and the one shutdown routine, serve /livez and
// /readyz at once, and hand out clients whose closers are registered with it. A
// dependency that is down at start (NATS, Redis, the apiserver) is waited for, never a
// reason to exit: Kubernetes would restart the pod with a backoff that outlasts the outage.
// Clients are made on request: not every service needs Redis or Kubernetes. The Kubernetes
// client is even loaded on request: client-node with its models and undici costs a process
// about 20 MB resident just to load, and the claimer needs it only to read
// agent.customSecret. The bus and the Kubernetes client come with their calls counted and
// timed on the service's registry (red-metrics.ts).
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Bus, connectBus, type Lease, openLease } from '@longshore/bus';
import {
  ConfigError,
  configSecrets,
  configWarnings,
  type LongshoreConfig,
  loadLongshoreConfig,
  natsServers,
} from '@longshore/config';
import { createLogger, type Logger, SecretScrubber } from '@longshore/logging';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { startHealthServer } from './health.ts';
import { createMetricsRegistry } from './metrics.ts';
import { serviceNames } from './names.ts';
import { busMetrics, kubeMetrics } from './red-metrics.ts';
import {
  type Backoff,
  backoffDelay,
  type RetryOptions,
  redactUrl,
  retryUntilAvailable,
  seconds,
} from './retry.ts';
import { createShutdown, type Shutdown } from './shutdown.ts';

export interface Service {
  /** The service's name as booted (`vm-scaler`): its logger's name and its metrics' prefix. */
  name: string;
  cfg: LongshoreConfig;
  logger: Logger;
  scrubber: SecretScrubber;
  registry: Registry;
  shutdown: Shutdown;
  /**
   * This replica's own name, never shared with another replica: $LONGSHORE_INSTANCE (the
   * chart sets the pod's name), else the host name. Identities that must be unique (ledger
   * records, bus durables, bus connection names) use it.
   */
  instance: string;
  /**
   * The runner's name as CircleCI shows it (the claim's `name`): agent.name, else
   * $LONGSHORE_DEPLOYMENT (the chart sets the Deployment's name; seed 000: "the name of the
   * deployment"), else the host name. The same for every replica.
   */
  runnerName: string;
  /** The Redis client; it queues commands while Redis is down and reconnects by itself. */
  redis(): Redis;
  /** The bus, once NATS has answered and the event stream is there (waited for, see `retry`). */
  bus(): Promise<Bus>;
  /**
   * A lease on the bus named `name` held as this replica (waited for like `bus`), closed on
   * shutdown: for the services that run on one replica at a time (constraints, vm-scaler).
   */
  lease(name: string): Promise<Lease>;
  /** The Kubernetes credentials, from the configured kubeconfig or the pod's service account; the client is loaded on the first call. */
  kube(): Promise<KubeConfig>;
  /**
   * Runs a start-up step until it works: a dependency that is down is waited for (one log
   * line per try, backoff 1 s doubling to 30 s), and shutdown ends the wait.
   */
  retry<T>(
    what: string,
    step: () => Promise<T>,
    opts?: Pick<RetryOptions, 'isFatal' | 'describe'>,
  ): Promise<T>;
  /**
   * Start-up is done: from now on /readyz answers 200 while `ready()` holds and the Redis
   * and NATS connections made here are up. Until then it answers 503 (/livez is 200 all along).
   */
  started(ready: () => boolean | Promise<boolean>): void;
  /**
   * Says why the service cannot run (one fatal log line), closes what was opened and exits:
   * 2 for a configuration error, else 1. A failure caused by a shutdown already under way
   * (a signal during start-up) is not one: the shutdown finishes and the process exits 0.
   */
  fail(reason: string, err: unknown, code?: number): Promise<never>;
}

/** Redis reconnects sooner than start-up steps retry: it is on the path of every task. */
const REDIS_BACKOFF: Backoff = { firstMs: 500, maxMs: 5_000, jitter: 0.2 };

export interface BootOptions {
  /**
   * How long the shutdown routine may take, from the configuration (default 25 s, inside
   * Kubernetes' default grace period). A service that drains its work on shutdown asks
   * for the grace period it is given.
   */
  readonly shutdownTimeoutMs?: (cfg: LongshoreConfig) => number;
}

export async function bootService(name: string, options: BootOptions = {}): Promise<Service> {
  // The logger first, so even a bad config is reported as one JSON line.
  const scrubber = new SecretScrubber();
  const logger = createLogger({ name, scrubber });
  let shutdown: Shutdown | undefined;
  const fail = async (reason: string, err: unknown, code?: number): Promise<never> => {
    const message = err instanceof Error ? err.message : String(err);
    if (shutdown?.started) {
      // The step failed because its wait was aborted or its clients closed under it.
      logger.info({ reason, err: message }, 'start-up ended by shutdown');
      const r = await shutdown.run(reason);
      process.exit(r.ok ? 0 : 1);
    }
    // A config error's message says it all (and never quotes a secret); others need their stack.
    logger.fatal(err instanceof ConfigError ? { reason } : { reason, err }, message);
    await shutdown?.run(reason);
    process.exit(code ?? (err instanceof ConfigError ? 2 : 1));
  };
  let cfg: LongshoreConfig;
  try {
    cfg = await loadLongshoreConfig();
  } catch (err) {
    return fail('invalid configuration', err);
  }
  for (const s of configSecrets(cfg)) scrubber.add(s);
  logger.level = cfg.logging.level;
  for (const w of configWarnings(cfg)) logger.warn(w);
  const down = createShutdown({ logger, timeoutMs: options.shutdownTimeoutMs?.(cfg) });
  shutdown = down;
  down.installSignalHandlers();
  const registry = createMetricsRegistry(name);
  const { instance, runnerName } = serviceNames(cfg.agent.name, process.env, hostname());
  let redis: Redis | undefined;
  let bus: Promise<Bus> | undefined;
  let connectedBus: Bus | undefined;
  let kc: Promise<KubeConfig> | undefined;
  let ready: (() => boolean | Promise<boolean>) | undefined;
  const retry = <T>(
    what: string,
    step: () => Promise<T>,
    opts?: Pick<RetryOptions, 'isFatal' | 'describe'>,
  ) => retryUntilAvailable(what, step, { ...opts, logger, signal: down.signal });

  // Health first: a service waiting for NATS, Redis or the apiserver is alive, and says it is
  // not ready, rather than being restarted by a liveness probe it did not answer.
  try {
    const h = await startHealthServer({
      host: cfg.http.host,
      port: cfg.http.port,
      logger,
      registry,
      ready: async () =>
        ready !== undefined &&
        !down.started &&
        (redis === undefined || redis.status === 'ready') &&
        (connectedBus === undefined || connectedBus.connected()) &&
        (await ready()),
    });
    down.add('health', () => h.close());
    logger.info({ url: h.url }, 'serving /livez, /readyz and /metrics');
  } catch (err) {
    return fail('cannot serve health endpoints', err);
  }

  return {
    name,
    cfg,
    logger,
    scrubber,
    registry,
    shutdown: down,
    instance,
    runnerName,
    redis: () => {
      redis ??= redisClient(cfg.redis.url, logger, down);
      return redis;
    },
    bus: () => {
      bus ??= (async () => {
        const metrics = busMetrics(registry, name, cfg.bus.prefix);
        const b = await retry(`NATS at ${natsServers(cfg.bus.url).map(redactUrl).join(',')}`, () =>
          connectBus({
            servers: natsServers(cfg.bus.url),
            prefix: cfg.bus.prefix,
            name: `${name}-${instance}`,
            replicas: cfg.bus.replicas,
            logger,
            metrics,
          }),
        );
        down.add('bus', () => b.close());
        await retry(`JetStream stream ${b.stream}`, () => b.ensureStream());
        connectedBus = b;
        return b;
      })();
      return bus;
    },
    lease: async (leaseName) => {
      const lease = await retry(`the ${leaseName} lease`, () =>
        openLease({
          servers: natsServers(cfg.bus.url),
          prefix: cfg.bus.prefix,
          name: leaseName,
          holder: instance,
          replicas: cfg.bus.replicas,
          logger,
        }),
      );
      down.add('lease', () => lease.close());
      return lease;
    },
    kube: () => {
      kc ??= import('@longshore/kube').then(({ loadKubeConfig }) =>
        loadKubeConfig({
          ...(cfg.kube.kubeconfig ? { kubeconfig: cfg.kube.kubeconfig } : {}),
          observer: kubeMetrics(registry, name),
        }),
      );
      return kc;
    },
    retry,
    started: (fn) => {
      ready = fn;
    },
    fail,
  };
}

/**
 * ioredis reconnects by itself and queues commands meanwhile (maxRetriesPerRequest null:
 * none fails for want of a connection), so a step that needs Redis simply waits. What is
 * logged is one line per reconnect attempt, with the pause, not every socket error.
 */
function redisClient(url: string, logger: Logger, down: Shutdown): Redis {
  const where = `Redis at ${redactUrl(url)}`;
  let lastError: string | undefined;
  let waiting = false;
  const r = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => backoffDelay(attempt, REDIS_BACKOFF),
  });
  r.on('error', (err: Error) => {
    lastError = err.message;
    // A failed connect is reported with its retry (below); other errors as they come.
    if (r.status !== 'connecting') logger.warn({ err: err.message }, 'redis connection error');
  });
  r.on('reconnecting', (ms: number) => {
    waiting = true;
    const reason = lastError ?? 'connection closed';
    logger.warn(
      { waiting_for: where, retry_in_ms: ms, reason },
      `waiting for ${where}: ${reason}; retrying in ${seconds(ms)}`,
    );
    lastError = undefined;
  });
  r.on('ready', () => {
    if (waiting) logger.info({ waiting_for: where }, `${where} is available`);
    waiting = false;
  });
  // quit() would wait behind commands queued for a connection that may never come.
  down.add('redis', () => (r.status === 'ready' ? r.quit() : r.disconnect()));
  return r;
}
