// services/scheduler: turns claims into task pods and follows each pod to its end.
// config, health -> Redis, NATS, Kubernetes (pod watch) -> scheduler -> ready -> run until SIGTERM/SIGINT.
import { contextNamespace } from '@longshore/kube';
import { RedisClaimLedger } from '@longshore/ledger';
import { bootService } from '@longshore/runtime';
import { startScheduler } from './scheduler.ts';
import { schedulerSettings } from './settings.ts';

const svc = await bootService('scheduler');
const { cfg, logger, shutdown } = svc;
try {
  const kc = await svc.kube();
  const namespace = cfg.agent.namespace ?? cfg.kube.namespace ?? contextNamespace(kc) ?? 'default';
  const ledger = new RedisClaimLedger({
    redis: svc.redis(),
    keyPrefix: cfg.redis.keyPrefix,
    tokenTtlMs: cfg.agent.maxRunTime + cfg.agent.gc.threshold,
  });
  const bus = await svc.bus();
  const scheduler = await startScheduler({
    kc,
    bus,
    ledger,
    settings: schedulerSettings(cfg, svc.instance, namespace),
    logger,
    registry: svc.registry,
    retry: (what, step) => svc.retry(what, step),
  });
  shutdown.add('scheduler', () => scheduler.stop());
  svc.started(() => scheduler.ready());
  logger.info({ namespace, runner: svc.instance }, 'scheduler started');
} catch (err) {
  await svc.fail('start-up failed', err);
}
