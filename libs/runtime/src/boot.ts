// What every service's main.ts does first: load and validate the config (a bad one stops
// the process with the path and reason, exit 2), make the logger that scrubs every secret
// in that config, the metrics registry and the one shutdown routine, and hand out clients
// whose closers are registered with it. Clients are made on request: not every service
// needs Redis or Kubernetes. The Kubernetes client is even loaded on request: client-node
// with its models and undici costs a process about 20 MB resident just to load, and the
// claimer needs it only to read agent.customSecret.
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { type Bus, connectBus } from '@longshore/bus';
import {
  ConfigError,
  configSecrets,
  configWarnings,
  type LongshoreConfig,
  loadLongshoreConfig,
} from '@longshore/config';
import { createLogger, type Logger, SecretScrubber } from '@longshore/logging';
import {
  createMetricsRegistry,
  createShutdown,
  type Shutdown,
  startHealthServer,
} from '@longshore/service-kit';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';

export interface Service {
  cfg: LongshoreConfig;
  logger: Logger;
  scrubber: SecretScrubber;
  registry: Registry;
  shutdown: Shutdown;
  /** This instance's name: agent.name, else the host name (a pod's name in Kubernetes). */
  instance: string;
  redis(): Redis;
  bus(): Promise<Bus>;
  /** The Kubernetes credentials, from the configured kubeconfig or the pod's service account; the client is loaded on the first call. */
  kube(): Promise<KubeConfig>;
  /** /livez, /readyz and /metrics on the configured http host and port. */
  serveHealth(ready: () => boolean | Promise<boolean>): Promise<void>;
  /**
   * Says why the service cannot run (one fatal log line), closes what was opened and exits:
   * 2 for a configuration error, else 1.
   */
  fail(reason: string, err: unknown, code?: number): Promise<never>;
}

export async function bootService(name: string): Promise<Service> {
  // The logger first, so even a bad config is reported as one JSON line.
  const scrubber = new SecretScrubber();
  const logger = createLogger({ name, scrubber });
  let shutdown: Shutdown | undefined;
  const fail = async (reason: string, err: unknown, code?: number): Promise<never> => {
    const message = err instanceof Error ? err.message : String(err);
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
  const down = createShutdown({
    logger,
    // The claimer drains its tasks on shutdown: that may take the whole grace period.
    timeoutMs: name === 'claimer' ? cfg.agent.terminationGracePeriodSeconds * 1000 : undefined,
  });
  shutdown = down;
  down.installSignalHandlers();
  const registry = createMetricsRegistry(name);
  const instance = cfg.agent.name || hostname();
  let redis: Redis | undefined;
  let bus: Promise<Bus> | undefined;
  let kc: Promise<KubeConfig> | undefined;
  return {
    cfg,
    logger,
    scrubber,
    registry,
    shutdown: down,
    instance,
    redis: () => {
      if (!redis) {
        const r = new Redis(cfg.redis.url, { maxRetriesPerRequest: null });
        r.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
        down.add('redis', () => r.quit());
        redis = r;
      }
      return redis;
    },
    bus: () => {
      bus ??= connectBus({
        servers: cfg.bus.url,
        prefix: cfg.bus.prefix,
        name: `${name}-${instance}`,
        logger,
      }).then(async (b) => {
        down.add('bus', () => b.close());
        await b.ensureStream();
        return b;
      });
      return bus;
    },
    kube: () => {
      kc ??= import('@longshore/kube').then(({ loadKubeConfig }) =>
        loadKubeConfig(cfg.kube.kubeconfig ? { kubeconfig: cfg.kube.kubeconfig } : {}),
      );
      return kc;
    },
    serveHealth: async (ready) => {
      const h = await startHealthServer({
        host: cfg.http.host,
        port: cfg.http.port,
        logger,
        ready,
        registry,
      });
      down.add('health', () => h.close());
      logger.info({ url: h.url }, 'serving /livez, /readyz and /metrics');
    },
    fail,
  };
}
