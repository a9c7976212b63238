// services/claimer: claims tasks per resource class within the concurrency limits.
// config, health -> tokens -> Redis, NATS, Runner API -> claimer -> ready -> run until
// SIGTERM, then drain: no new claims, in-flight tasks get the grace period to finish.
import { hostname, networkInterfaces } from 'node:os';
import { podCheckFingerprint } from '@longshore/contracts';
import { HttpRunnerApi } from '@longshore/runner-api';
import { bootService, claimLedger, runnerApiMetrics } from '@longshore/runtime';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { startClaimer } from './claimer.ts';
import { resolveTokens, TokenConfigError } from './tokens.ts';

// The claimer drains its tasks on shutdown: that may take the whole grace period.
const svc = await bootService('claimer', {
  shutdownTimeoutMs: (cfg) => cfg.agent.terminationGracePeriodSeconds * 1000,
});
const { cfg, logger, shutdown } = svc;
try {
  const tokens = await resolveTokens(cfg.agent.resourceClasses, cfg.agent.customSecret, async (name) => {
    // Loaded only here: without agent.customSecret the claimer never talks to Kubernetes.
    const [{ kubeClients }, { readSecretData, taskNamespace }] = await Promise.all([
      import('@longshore/kube'),
      import('@longshore/runtime/kube'),
    ]);
    const kc = await svc.kube();
    return readSecretData(kubeClients(kc).core, taskNamespace(cfg, kc), name, {
      logger,
      signal: shutdown.signal,
    });
  });
  for (const t of Object.values(tokens)) svc.scrubber.add(t);
  const ledger = claimLedger(cfg, svc.redis(), svc);
  const claimer = await startClaimer({
    // The name CircleCI shows (agent.name, else the Deployment's name), shared by replicas;
    // the replica's own name keys its claims in the ledger and its bus durable.
    identity: { name: svc.runnerName, hostname: hostname(), ip: firstIpv4(), version: '0.1.0' },
    runner: svc.instance,
    podCheckFingerprints: Object.fromEntries(
      Object.keys(tokens).map((rc) => [rc, podCheckFingerprint(cfg.agent, rc)]),
    ),
    tokens,
    maxConcurrentTasks: cfg.agent.maxConcurrentTasks,
    perClassMax: Object.fromEntries(
      Object.entries(cfg.agent.resourceClasses).map(([rc, c]) => [rc, c.maxConcurrentTasks]),
    ),
    api: new HttpRunnerApi({
      baseUrl: cfg.agent.runnerAPI,
      observe: runnerApiMetrics(svc.registry, svc.name),
    }),
    ledger,
    bus: await svc.bus(),
    logger,
    scrubber: svc.scrubber,
    registry: svc.registry,
    retry: (what, step) => svc.retry(what, step),
    // The idle waits from agent.idleWait; the error and refused-token waits stay the defaults.
    policy: { ...DEFAULT_BACKOFF, idleMinMs: cfg.agent.idleWait.first, idleMaxMs: cfg.agent.idleWait.max },
  });
  // Leave a few seconds of the grace period for closing the connections after the drain.
  const graceMs = Math.max(0, cfg.agent.terminationGracePeriodSeconds * 1000 - 5_000);
  shutdown.add('claimer', async () => {
    const r = await claimer.drain(graceMs);
    if (!r.drained)
      logger.warn({ left: r.left }, 'grace period over with tasks still running; they stay in the ledger');
  });
  svc.started(() => claimer.ready());
  logger.info(
    { runner: svc.instance, name: svc.runnerName, classes: Object.keys(tokens) },
    'claimer started',
  );
} catch (err) {
  await svc.fail(
    err instanceof TokenConfigError ? 'invalid configuration' : 'start-up failed',
    err,
    err instanceof TokenConfigError ? 2 : undefined,
  );
}

function firstIpv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
