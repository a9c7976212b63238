// The claimer: a claim loop per resource class -> ClaimTaker (ledger, config, announce);
// the scheduler's ending events -> finisher (report, release, close). At start it picks up
// whatever its previous life left in the ledger; on drain it stops claiming at once and
// waits for its tasks to end.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, ConsumerHandle } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey } from '@longshore/contracts';
import type { ClaimLedger } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import type { RunnerApi, RunnerIdentity } from '@longshore/runner-api';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.ts';
import { Capacity } from './capacity.ts';
import { runClaimLoop } from './claim-loop.ts';
import { startFinisher } from './finisher.ts';
import { ClaimTaker } from './taker.ts';

export interface ClaimerDeps {
  identity: RunnerIdentity;
  /** Resource class -> its token. */
  tokens: Record<string, string>;
  maxConcurrentTasks: number;
  /** Optional caps per class (agent.resourceClasses.<rc>.maxConcurrentTasks). */
  perClassMax?: Record<string, number | undefined>;
  api: RunnerApi;
  ledger: ClaimLedger;
  bus: Bus;
  logger: Logger;
  scrubber: SecretScrubber;
  registry: Registry;
  policy?: BackoffPolicy;
}

export interface RunningClaimer {
  ready(): boolean;
  readonly inFlight: number;
  /** Stops claiming at once, then waits up to graceMs for in-flight tasks to end. */
  drain(graceMs: number): Promise<{ drained: boolean; left: number }>;
}

export async function startClaimer(d: ClaimerDeps): Promise<RunningClaimer> {
  const runner = d.identity.name;
  const capacity = new Capacity(d.maxConcurrentTasks, d.perClassMax);
  const claims = new Counter({
    name: 'longshore_claimer_claims_total',
    help: 'Claim attempts by resource class and outcome (claimed, no-work, error, auth-error, disabled)',
    labelNames: ['resource_class', 'outcome'],
    registers: [d.registry],
  });
  const finished = new Counter({
    name: 'longshore_claimer_claims_closed_total',
    help: 'Claims closed, by how (succeeded, failed, released, cancelled)',
    labelNames: ['how'],
    registers: [d.registry],
  });
  new Gauge({
    name: 'longshore_claimer_in_flight',
    help: 'Tasks claimed by this runner and not yet ended',
    registers: [d.registry],
    collect() {
      this.set(capacity.inFlight);
    },
  });
  const draining = new AbortController();
  const taker = new ClaimTaker({
    runner,
    signal: draining.signal,
    api: d.api,
    ledger: d.ledger,
    bus: d.bus,
    capacity,
    scrubber: d.scrubber,
    logger: d.logger,
  });

  // What a previous life of this runner left: committed claims (announce those never
  // announced) and pending ones (finish them). They all hold slots until they end.
  for (const taskId of await d.ledger.claimsOf(runner)) {
    const rec = await d.ledger.get(taskId);
    if (!rec) continue;
    capacity.hold(rec.resourceClass);
    d.scrubber.add((await d.ledger.token(taskId)) ?? '');
    if (!rec.announced) await taker.announce(rec);
  }
  const pending = await d.ledger.pending(runner);
  for (const p of pending) {
    capacity.hold(p.resourceClass);
    d.scrubber.add(p.token);
  }
  if (capacity.inFlight > 0)
    d.logger.info({ in_flight: capacity.inFlight }, 'resuming claims from the ledger');

  for (const p of pending) taker.finishLater(p);

  const finisher: ConsumerHandle = await startFinisher({
    runner,
    api: d.api,
    ledger: d.ledger,
    bus: d.bus,
    capacity,
    scrubber: d.scrubber,
    logger: d.logger.child({ unit: 'finisher' }),
    metrics: { finished: (how) => finished.inc({ how }) },
  });

  // Constraint status from services/constraints, kept in a KV bucket so a restarted claimer
  // reads the current state; until the checker speaks (or when a key is deleted), every
  // class is enabled.
  const disabled = new Set<string>();
  const statusKv = await d.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
  const classOfKey = new Map(Object.keys(d.tokens).map((rc) => [constraintStatusKey(rc), rc]));
  for (const [key, rc] of classOfKey)
    if ((await statusKv.get(key))?.value.enabled === false) disabled.add(rc);
  const statusWatch = new AbortController();
  const status = (async () => {
    for await (const c of statusKv.watch({ signal: statusWatch.signal })) {
      const rc = classOfKey.get(c.key);
      if (rc === undefined) continue;
      if (c.value?.enabled === false) disabled.add(rc);
      else disabled.delete(rc);
    }
  })().catch((err: unknown) => d.logger.error({ err }, 'constraint status watch stopped'));

  const loops = Object.entries(d.tokens).map(([rc, token]) =>
    runClaimLoop({
      resourceClass: rc,
      token,
      api: d.api,
      identity: d.identity,
      capacity,
      taker,
      isEnabled: (c) => !disabled.has(c),
      policy: d.policy ?? DEFAULT_BACKOFF,
      logger: d.logger.child({ unit: 'claim-loop', resource_class: rc }),
      metrics: { claim: (outcome) => claims.inc({ resource_class: rc, outcome }) },
      signal: draining.signal,
    }).catch((err: unknown) =>
      d.logger.error({ err, resource_class: rc }, 'claim loop stopped unexpectedly'),
    ),
  );

  let drainResult: Promise<{ drained: boolean; left: number }> | undefined;
  return {
    ready: () => !draining.signal.aborted,
    get inFlight() {
      return capacity.inFlight;
    },
    drain: (graceMs) => {
      drainResult ??= (async () => {
        draining.abort();
        await Promise.allSettled(loops);
        await taker.settled();
        d.logger.info({ in_flight: capacity.inFlight, grace_ms: graceMs }, 'draining: no new claims');
        const deadline = Date.now() + graceMs;
        while (capacity.inFlight > 0 && Date.now() < deadline) await sleep(100);
        const left = capacity.inFlight;
        statusWatch.abort();
        await Promise.allSettled([finisher.stop(), status]);
        return { drained: left === 0, left };
      })();
      return drainResult;
    },
  };
}
