// services/gc: deletes our old and orphaned task pods and Secrets and reconciles the claim
// ledger with the pods, once per interval across all replicas.
// config, health -> Redis, NATS, Kubernetes -> gc loop (lease -> list -> plan -> act) -> ready -> run until SIGTERM/SIGINT.
import { CoreV1Api } from '@kubernetes/client-node';
import { configWarnings } from '@longshore/config';
import { redisKeys } from '@longshore/contracts';
import { bootService, claimLedger } from '@longshore/runtime';
import { taskNamespace } from '@longshore/runtime/kube';
import { gcSettings } from './settings.ts';
import { startGc } from './sweeper.ts';

const svc = await bootService('gc');
const { cfg, logger, shutdown } = svc;
try {
  if (!cfg.agent.gc.enabled) {
    logger.info('agent.gc.enabled is false: nothing to do');
  } else {
    const kc = await svc.kube();
    const namespace = taskNamespace(cfg, kc);
    const settings = gcSettings(cfg, svc.instance, namespace);
    // Seed 000: a threshold within the max run time deletes running task pods.
    if (configWarnings(cfg).some((w) => w.startsWith('agent.gc.threshold')))
      logger.warn(
        { threshold_ms: settings.thresholdMs, max_run_time_ms: cfg.agent.maxRunTime },
        'gc threshold is not longer than maxRunTime: this GC may delete running task pods',
      );
    const redis = svc.redis();
    const gc = startGc({
      core: kc.makeApiClient(CoreV1Api),
      bus: await svc.bus(),
      ledger: claimLedger(cfg, redis, svc),
      redis,
      leaseKey: redisKeys(cfg.redis.keyPrefix).lock('gc-sweep'),
      settings,
      logger,
      registry: svc.registry,
    });
    shutdown.add('gc', () => gc.stop());
    logger.info(
      { namespace, interval_ms: settings.intervalMs, threshold_ms: settings.thresholdMs },
      'gc started',
    );
  }
  svc.started(() => true);
} catch (err) {
  await svc.fail('start-up failed', err);
}
