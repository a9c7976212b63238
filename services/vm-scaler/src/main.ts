// The vm-scaler as its own process: config and health endpoints, clients, the scaler (ready
// once it has polled), then run until a signal; every exit path goes through the one
// shutdown routine.
import { kubeClients } from '@longshore/kube';
import { bootService } from '@longshore/runtime';
import { startVmScaler } from './vm-scaler.ts';

const svc = await bootService('vm-scaler');
const { cfg: config, logger, scrubber, registry, shutdown } = svc;
try {
  const scaler = await startVmScaler({
    config,
    kube: kubeClients(await svc.kube()),
    bus: await svc.bus(),
    logger,
    scrubber,
    registry,
    configSource: process.env.LONGSHORE_CONFIG || undefined,
  });
  shutdown.add('scaler', () => scaler.stop());
  svc.started(() => scaler.ready());
} catch (err) {
  await svc.fail('start-up failed', err);
}
