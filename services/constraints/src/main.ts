// services/constraints: disables claiming for a resource class whose task pods could not
// be scheduled on the live nodes, and enables it again once they could.
// config, health -> NATS, Kubernetes -> lease -> checker while holding it -> run until SIGTERM.
// Replicas run active-passive: two checkers would count each class's failures twice and
// write its status in turns, so only the holder of the `constraints` lease checks; the
// others stand by, ready, and one takes over (reading the counts back) if it goes away.
import { runWhileHeld } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey } from '@longshore/contracts';
import { kubeClients } from '@longshore/kube';
import { bootService } from '@longshore/runtime';
import { retryKubeCall } from '@longshore/runtime/kube';
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
    const { core } = kubeClients(kc);
    // A replica that could not list nodes could not take over: not ready until it can.
    await retryKubeCall('the apiserver (list nodes)', () => core.listNode({ limit: 1 }), {
      logger,
      signal: shutdown.signal,
    });
    const lease = await svc.lease('constraints');
    const checker = runWhileHeld(
      lease,
      (signal) =>
        startChecker({
          kc,
          core,
          bus,
          settings: {
            classes,
            intervalMs: cc.interval,
            threshold: cc.threshold,
            debounceMs: cc.debounce ?? 2_000,
          },
          logger,
          registry: svc.registry,
          signal,
        }),
      { logger, onStartFailure: (err) => void svc.fail('the constraint checker failed to start', err) },
    );
    shutdown.add('checker', () => checker.stop());
    // Ready: a standby whose lease answers (it can take over), or the holder once it checks.
    svc.started(() => lease.reachable() && (!lease.held() || checker.current()?.ready() === true));
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
