// services/scheduler: turns claims into task pods and follows each pod to its end.
// config, health -> Redis, NATS, Kubernetes (pod watch) -> scheduler -> each class's task
// pod judged by the apiserver (dry run; verdicts in the pod-check bucket, which the claimer
// reads before it claims) -> ready -> run until SIGTERM/SIGINT.
import { POD_CHECK_KV_BUCKET, PodCheckResult } from '@longshore/contracts';
import { bootService, claimLedger } from '@longshore/runtime';
import { retryKubeCall, taskNamespace } from '@longshore/runtime/kube';
import { recordPodChecks } from './pod-check.ts';
import { startScheduler } from './scheduler.ts';
import { schedulerSettings } from './settings.ts';

const svc = await bootService('scheduler');
const { cfg, logger, shutdown } = svc;
try {
  const kc = await svc.kube();
  const namespace = taskNamespace(cfg, kc);
  const settings = schedulerSettings(cfg, svc.instance, namespace);
  const ledger = claimLedger(cfg, svc.redis(), svc);
  const bus = await svc.bus();
  const scheduler = await startScheduler({
    kc,
    bus,
    ledger,
    settings,
    logger,
    registry: svc.registry,
    retry: (what, step) => svc.retry(what, step),
  });
  shutdown.add('scheduler', () => scheduler.stop());
  // After the pod watch has started, so the apiserver is known to answer.
  await recordPodChecks({
    kc,
    settings,
    kv: await svc.retry('the pod check bucket', () => bus.kv(POD_CHECK_KV_BUCKET, PodCheckResult)),
    attempt: (what, call) => retryKubeCall(what, call, { logger, signal: shutdown.signal }),
    signal: shutdown.signal,
    runner: svc.instance,
    logger,
    registry: svc.registry,
    retry: (what, step) => svc.retry(what, step),
  });
  svc.started(() => scheduler.ready());
  logger.info({ namespace, runner: svc.instance }, 'scheduler started');
} catch (err) {
  await svc.fail('start-up failed', err);
}
