// The claimer: a claim loop per resource class -> ClaimTaker (ledger, config, announce);
// the scheduler's ending events -> finisher (report, release, close). At start it picks up
// whatever its previous life left in the ledger; on drain it stops claiming at once and
// waits for its tasks to end.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, ConsumerHandle } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey } from '@longshore/contracts';
import { type ClaimLedger, LedgerCorruptError } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import type { RunnerApi, RunnerIdentity } from '@longshore/runner-api';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type BackoffPolicy, DEFAULT_BACKOFF, type StepBudget } from './backoff.ts';
import { Capacity } from './capacity.ts';
import { ClaimBook } from './claim-book.ts';
import { runClaimLoop } from './claim-loop.ts';
import { startFinisher } from './finisher.ts';
import { LedgerWatch } from './ledger-watch.ts';
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
  /** Tries per step of taking a claim before it is given up (default DEFAULT_STEP_BUDGET). */
  stepBudget?: StepBudget;
  /** How often the ledger's generation is checked for data loss. Default 5 s. */
  ledgerCheckMs?: number;
  /**
   * Runs a start-up step until it works (a dependency that is briefly away is waited for):
   * the service passes its own (`svc.retry`); default: one try.
   */
  retry?: <T>(what: string, step: () => Promise<T>) => Promise<T>;
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
  const dropped = new Counter({
    name: 'longshore_claimer_claims_dropped_total',
    help: 'Claims given up before their task reached the scheduler, by stage and by what the Runner API was told',
    labelNames: ['stage', 'outcome'],
    registers: [d.registry],
  });
  const ledgerEvents = new Counter({
    name: 'longshore_claimer_ledger_losses_total',
    help: 'Signs that the claim ledger lost its data: ended tasks with no record (miss), rebuilds from memory (rebuilt)',
    labelNames: ['event'],
    registers: [d.registry],
  });
  const draining = new AbortController();
  const book = new ClaimBook(capacity);
  const taker = new ClaimTaker({
    runner,
    signal: draining.signal,
    api: d.api,
    ledger: d.ledger,
    bus: d.bus,
    book,
    scrubber: d.scrubber,
    logger: d.logger,
    ...(d.stepBudget ? { budget: d.stepBudget } : {}),
    metrics: { dropped: (stage, outcome) => dropped.inc({ stage, outcome }) },
  });
  await recover(d, taker, (stage) => dropped.inc({ stage, outcome: 'unreported' }));
  if (capacity.inFlight > 0)
    d.logger.info({ in_flight: capacity.inFlight }, 'resuming claims from the ledger');
  const watch = new LedgerWatch({
    runner,
    ledger: d.ledger,
    book,
    bus: d.bus,
    logger: d.logger.child({ unit: 'ledger-watch' }),
    intervalMs: d.ledgerCheckMs ?? 5_000,
    metrics: { rebuilt: () => ledgerEvents.inc({ event: 'rebuilt' }) },
  });
  await watch.start();
  const finisher: ConsumerHandle = await startFinisher({
    runner,
    api: d.api,
    ledger: d.ledger,
    bus: d.bus,
    book,
    scrubber: d.scrubber,
    logger: d.logger.child({ unit: 'finisher' }),
    metrics: {
      finished: (how) => finished.inc({ how }),
      ledgerMiss: () => ledgerEvents.inc({ event: 'miss' }),
    },
    onLedgerMiss: () => void watch.check(),
  });

  // Constraint status from services/constraints, kept in a KV bucket so a restarted claimer
  // reads the current state; until the checker speaks (or when a key is deleted), every
  // class is enabled.
  const retry = d.retry ?? (<T>(_what: string, step: () => Promise<T>) => step());
  const disabled = new Set<string>();
  const statusKv = await retry('the constraint status bucket', () =>
    d.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus),
  );
  const classOfKey = new Map(Object.keys(d.tokens).map((rc) => [constraintStatusKey(rc), rc]));
  for (const [key, rc] of classOfKey)
    if ((await retry(`the constraint status of ${rc}`, () => statusKv.get(key)))?.value.enabled === false)
      disabled.add(rc);
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
        await Promise.allSettled([finisher.stop(), status, watch.stop()]);
        return { drained: left === 0, left };
      })();
      return drainResult;
    },
  };
}

/**
 * What a previous life of this runner left in the ledger: filed claims (announced again if
 * they never were) and pending ones (finished). Each record is handled on its own: one that
 * cannot be read back is removed and reported, and the others go on. They all hold slots
 * until they end.
 */
async function recover(d: ClaimerDeps, taker: ClaimTaker, unreadable: (stage: 'recovery') => void) {
  const runner = d.identity.name;
  const report = (what: Record<string, unknown>, msg: string) => {
    unreadable('recovery');
    d.logger.error(what, msg);
  };
  for (const taskId of await d.ledger.claimsOf(runner)) {
    try {
      const rec = await d.ledger.get(taskId);
      const token = rec && (await d.ledger.token(taskId));
      if (rec === undefined || rec.runner !== runner || token === undefined) {
        // Finished, expired or taken over since: only the index entry was left.
        await d.ledger.forget(taskId, runner).catch(() => undefined);
        if (rec !== undefined && rec.runner === runner)
          report(
            { task_id: taskId },
            'a claim of this runner has no task token left (expired); dropped from the ledger',
          );
        continue;
      }
      taker.resumeFiled(rec, token);
    } catch (err) {
      if (!(err instanceof LedgerCorruptError)) throw err;
      await d.ledger.forget(taskId, runner);
      report({ task_id: taskId, err: err.message }, 'unreadable claim record removed; it cannot be finished');
    }
  }
  const pending = await d.ledger.pending(runner, {
    onUnreadable: (allocation) =>
      report({ allocation }, 'unreadable pending claim removed; it cannot be finished'),
  });
  for (const p of pending) taker.resumePending(p);
}
