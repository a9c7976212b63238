// services/constraints: disables claiming for a resource class whose task pods could not
// be scheduled on the live nodes, and enables it again once they could.
// config, health -> NATS, Kubernetes -> checker (interval + node watch) -> ready -> run until SIGTERM.
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey } from '@longshore/contracts';
import { kubeClients } from '@longshore/kube';
import { bootService } from '@longshore/runtime';
import { startChecker } from './checker.ts';

const svc = await bootService('constraints');
const { cfg, logger, shutdown } = svc;
try {
  const bus = await svc.bus();
  const classes = Object.fromEntries(
    Object.entries(cfg.agent.resourceClasses).map(([rc, c]) => [rc, c.spec]),
  );
  const cc = cfg.agent.constraintChecker;
  if (cc.enable) {
    const kc = await svc.kube();
    const checker = await startChecker({
      kc,
      core: kubeClients(kc).core,
      bus,
      settings: {
        classes,
        intervalMs: cc.interval,
        threshold: cc.threshold,
        debounceMs: cc.debounce ?? 2_000,
      },
      logger,
      registry: svc.registry,
    });
    shutdown.add('checker', () => checker.stop());
    svc.started(() => checker.ready());
  } else {
    // Turned off: a status left by an earlier life must not keep a class disabled.
    await svc.retry('the constraint status bucket', async () => {
      const kv = await bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
      for (const rc of Object.keys(classes)) await kv.delete(constraintStatusKey(rc));
    });
    logger.info('agent.constraintChecker.enable is false: every class stays enabled');
    svc.started(() => true);
  }
  logger.info({ enabled: cc.enable }, 'constraints started');
} catch (err) {
  await svc.fail('start-up failed', err);
}
