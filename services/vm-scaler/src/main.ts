// The vm-scaler as its own process: config and health endpoints, clients, the lease, and the
// scaler while this replica holds it, then run until a signal; every exit path goes through
// the one shutdown routine. Replicas run active-passive: only the holder of the `vm-scaler`
// lease polls the Runner API and sizes the pools; the others stand by, ready, and one takes
// over within the lease's TTL when it goes away.

import { VersionApi } from '@kubernetes/client-node';
import { runWhileHeld } from '@longshore/bus';
import { kubeClients } from '@longshore/kube';
import { bootService } from '@longshore/runtime';
import { retryKubeCall } from '@longshore/runtime/kube';
import { provisionerOf } from './scaler-config.ts';
import { startVmScaler } from './vm-scaler.ts';

const svc = await bootService('vm-scaler');
const { cfg: config, logger, scrubber, registry, shutdown } = svc;
try {
  const configSource = process.env.LONGSHORE_CONFIG || undefined;
  // A configuration without a provisioner stops every replica, not only the holder.
  provisionerOf(config, configSource);
  const kc = await svc.kube();
  // A replica that could not reach the apiserver could not take over: not ready until it can.
  await retryKubeCall('the apiserver', () => kc.makeApiClient(VersionApi).getCode(), {
    logger,
    signal: shutdown.signal,
  });
  const bus = await svc.bus();
  const lease = await svc.lease('vm-scaler');
  const scaler = runWhileHeld(
    lease,
    (signal) =>
      startVmScaler({ config, kube: kubeClients(kc), bus, logger, scrubber, registry, configSource, signal }),
    { logger, onStartFailure: (err) => void svc.fail('start-up failed', err) },
  );
  shutdown.add('scaler', () => scaler.stop());
  // Ready: a standby whose lease answers (it can take over), or the holder once it scales.
  svc.started(() => lease.reachable() && (!lease.held() || scaler.current()?.ready() === true));
} catch (err) {
  await svc.fail('start-up failed', err);
}
