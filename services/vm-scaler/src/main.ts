// The vm-scaler as its own process: config, clients, the scaler and its health endpoints,
// then run until a signal; every exit path goes through the one shutdown routine.
import { hostname } from 'node:os';
import { connectBus } from '@longshore/bus';
import { ConfigError, configSecrets, loadLongshoreConfig } from '@longshore/config';
import { kubeClients, loadKubeConfig } from '@longshore/kube';
import { createLogger, SecretScrubber } from '@longshore/logging';
import { createMetricsRegistry, createShutdown, startHealthServer } from '@longshore/service-kit';
import { startVmScaler } from './vm-scaler.ts';

const scrubber = new SecretScrubber();
const logger = createLogger({ name: 'vm-scaler', scrubber });
const shutdown = createShutdown({ logger });
shutdown.installSignalHandlers();

/** Says why the service cannot run, closes what was opened, exits (2: bad configuration). */
async function fail(reason: string, err: unknown): Promise<never> {
  logger.fatal({ err }, err instanceof Error ? err.message : String(err));
  await shutdown.run(reason);
  process.exit(err instanceof ConfigError ? 2 : 1);
}

const config = await loadLongshoreConfig().catch((err: unknown) => fail('invalid configuration', err));
logger.level = config.logging.level;
for (const secret of configSecrets(config)) scrubber.add(secret);

try {
  const registry = createMetricsRegistry('vm-scaler');
  const kube = kubeClients(loadKubeConfig({ kubeconfig: config.kube.kubeconfig }));
  const bus = await connectBus({
    servers: config.bus.url.split(',').map((s) => s.trim()),
    prefix: config.bus.prefix,
    name: `vm-scaler-${hostname()}`,
    logger,
  });
  shutdown.add('bus', () => bus.close());
  const configSource = process.env.LONGSHORE_CONFIG || undefined;
  const scaler = await startVmScaler({ config, kube, bus, logger, scrubber, registry, configSource });
  shutdown.add('scaler', () => scaler.stop());
  const health = await startHealthServer({ ...config.http, ready: () => scaler.ready(), registry, logger });
  shutdown.add('health', () => health.close());
  void bus.closed().then((err) => {
    if (err !== undefined && !shutdown.started) void fail('lost the NATS connection', err);
  });
} catch (err) {
  await fail('start-up failed', err);
}
