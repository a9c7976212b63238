// What every service's main.ts does first: load and validate the config (a bad one stops
// the process with the path and reason, exit 2), make the logger that scrubs every secret
// in that config, the metrics registry and the one shutdown routine, and hand out clients
// whose closers are registered with it. Clients are made on request: not every service
// needs Redis or Kubernetes.
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
import { loadKubeConfig } from '@longshore/kube';
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
  kube(): KubeConfig;
  /** /livez, /readyz and /metrics on the configured http host and port. */
  serveHealth(ready: () => boolean | Promise<boolean>): Promise<void>;
}

export async function bootService(name: string): Promise<Service> {
  let cfg: LongshoreConfig;
  try {
    cfg = await loadLongshoreConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const scrubber = new SecretScrubber();
  for (const s of configSecrets(cfg)) scrubber.add(s);
  const logger = createLogger({ name, level: cfg.logging.level, scrubber });
  for (const w of configWarnings(cfg)) logger.warn(w);
  const shutdown = createShutdown({
    logger,
    // Task drains can take the whole grace period; the kit's default suits the rest.
    timeoutMs: name === 'claimer' ? cfg.agent.terminationGracePeriodSeconds * 1000 : undefined,
  });
  shutdown.installSignalHandlers();
  const registry = createMetricsRegistry(name);
  const instance = cfg.agent.name || hostname();
  let redis: Redis | undefined;
  let bus: Promise<Bus> | undefined;
  let kc: KubeConfig | undefined;
  return {
    cfg,
    logger,
    scrubber,
    registry,
    shutdown,
    instance,
    redis: () => {
      if (!redis) {
        const r = new Redis(cfg.redis.url, { maxRetriesPerRequest: null });
        r.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
        shutdown.add('redis', () => r.quit());
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
        shutdown.add('bus', () => b.close());
        await b.ensureStream();
        return b;
      });
      return bus;
    },
    kube: () => {
      kc ??= loadKubeConfig(cfg.kube.kubeconfig ? { kubeconfig: cfg.kube.kubeconfig } : {});
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
      shutdown.add('health', () => h.close());
      logger.info({ url: h.url }, 'serving /livez, /readyz and /metrics');
    },
  };
}
