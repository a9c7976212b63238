// The claimer: a claim loop per resource class -> ClaimTaker (ledger, config, announce);
// the scheduler's ending events -> finisher (report, release, close). Each class's claim
// state (claiming, token refused, disabled; drops) -> ClaimStateBoard -> claim-state KV,
// for `longshore status`. At start it picks up whatever its previous life left in the
// ledger; on drain it stops claiming at once and waits for its tasks to end.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, ConsumerHandle } from '@longshore/bus';
import {
  CLAIM_STATE_KV_BUCKET,
  CLAIM_STATE_TTL_MS,
  type ClaimDropped,
  ClaimState,
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  constraintStatusKey,
  POD_CHECK_KV_BUCKET,
  PodCheckResult,
  podCheckGate,
  podCheckKey,
} from '@longshore/contracts';
import { type ClaimLedger, LedgerCorruptError } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import type { RunnerApi, RunnerIdentity } from '@longshore/runner-api';
import { taskStageHistogram } from '@longshore/runtime';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Adopter } from './adopter.ts';
import { type BackoffPolicy, DEFAULT_BACKOFF, type StepBudget } from './backoff.ts';
import { Capacity } from './capacity.ts';
import { ClaimBook } from './claim-book.ts';
import { CLAIM_TRY_OUTCOMES, runClaimLoop } from './claim-loop.ts';
import { ClaimStateBoard } from './claim-state.ts';
import { ClassGates } from './class-gates.ts';
import { startFinisher } from './finisher.ts';
import { LedgerWatch } from './ledger-watch.ts';
import { ClaimTaker, type Stage } from './taker.ts';

export interface ClaimerDeps {
  /** How this runner introduces itself when claiming: `name` is agent.name, shared by replicas. */
  identity: RunnerIdentity;
  /**
   * This replica's own name (never shared with another replica): its claims in the ledger,
   * its bus durable and its claim-state keys are under it. Default: identity.name.
   */
  runner?: string;
  /**
   * The fingerprint of each class's task pod config (podCheckFingerprint): the class claims only
   * once the scheduler's pod check accepted a pod built from that config. Without it, no gate.
   */
  podCheckFingerprints?: Record<string, string>;
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
  /** How long a runner may miss its heartbeat before others take over its claims. Default 30 s. */
  heartbeatTtlMs?: number;
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
  const runner = d.runner ?? d.identity.name;
  const capacity = new Capacity(d.maxConcurrentTasks, d.perClassMax);
  const claims = new Counter({
    name: 'longshore_claimer_claims_total',
    help: 'Claim attempts by resource class and outcome (claimed, no-work, error, token-refused, disabled)',
    labelNames: ['resource_class', 'outcome'],
    registers: [d.registry],
  });
  // Every class and outcome from 0: the first refusal or error is an increase (a series that
  // appears at 1 is none to increase() and rate()), and the alerts on them can fire.
  for (const rc of Object.keys(d.tokens))
    for (const outcome of CLAIM_TRY_OUTCOMES) claims.inc({ resource_class: rc, outcome }, 0);
  const finished = new Counter({
    name: 'longshore_claimer_claims_closed_total',
    help: 'Claims closed, by how (reported-in-pod, failed, released, gone, unreported)',
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
  new Gauge({
    name: 'longshore_claimer_max_in_flight',
    help: 'Tasks this runner may hold at once (agent.maxConcurrentTasks)',
    registers: [d.registry],
  }).set(d.maxConcurrentTasks);
  const classes = Object.keys(d.tokens);
  new Gauge({
    name: 'longshore_claimer_class_in_flight',
    help: 'Tasks claimed by this runner and not yet ended, by resource class',
    labelNames: ['resource_class'],
    registers: [d.registry],
    collect() {
      for (const rc of classes) this.set({ resource_class: rc }, capacity.heldBy(rc));
    },
  });
  const classMax = new Gauge({
    name: 'longshore_claimer_class_max_in_flight',
    help: "Tasks this runner may hold at once of a resource class (its maxConcurrentTasks, else the runner's)",
    labelNames: ['resource_class'],
    registers: [d.registry],
  });
  for (const rc of classes)
    classMax.set({ resource_class: rc }, Math.min(d.perClassMax?.[rc] ?? Infinity, d.maxConcurrentTasks));
  const dropped = new Counter({
    name: 'longshore_claimer_claims_dropped_total',
    help: 'Claims given up before their task reached the scheduler, by class, stage and what the Runner API was told',
    labelNames: ['resource_class', 'stage', 'outcome'],
    registers: [d.registry],
  });
  const ledgerEvents = new Counter({
    name: 'longshore_claimer_ledger_losses_total',
    help: 'Signs that the claim ledger lost its data: ended tasks with no record (miss), rebuilds from memory (rebuilt)',
    labelNames: ['event'],
    registers: [d.registry],
  });
  const retry = d.retry ?? (<T>(_what: string, step: () => Promise<T>) => step());
  const board = new ClaimStateBoard({
    runner,
    classes: Object.keys(d.tokens),
    kv: await retry('the claim state bucket', () =>
      d.bus.kv(CLAIM_STATE_KV_BUCKET, ClaimState, { ttlMs: CLAIM_STATE_TTL_MS }),
    ),
    logger: d.logger.child({ unit: 'claim-state' }),
  });
  /** A dropped claim: counted on its class, and shown in the class's claim state. */
  const recordDrop = (rc: string, stage: Stage, outcome: ClaimDropped['outcome'], error: string) => {
    dropped.inc({ resource_class: rc, stage, outcome });
    board.report(rc, { kind: 'dropped', stage, outcome, error });
  };
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
    metrics: { dropped: recordDrop, stages: taskStageHistogram(d.registry, 'claimer') },
  });
  // An unreadable record of a previous life may not say its class: counted on none.
  await recover(d, taker, (stage) => dropped.inc({ resource_class: '', stage, outcome: 'unreported' }));
  board.start();
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
  const adopted = new Counter({
    name: 'longshore_claimer_claims_adopted_total',
    help: 'Claims taken over from runners that stopped beating (killed, or replaced under a new name)',
    registers: [d.registry],
  });
  const adopter = new Adopter({
    runner,
    ledger: d.ledger,
    taker,
    logger: d.logger.child({ unit: 'adopter' }),
    ...(d.heartbeatTtlMs === undefined ? {} : { heartbeatTtlMs: d.heartbeatTtlMs }),
    metrics: { adopted: (n) => adopted.inc(n) },
  });
  await adopter.start();
  const finisher: ConsumerHandle = await startFinisher({
    adoptFrom: (other) => adopter.adoptFrom(other),
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

  // What may keep a class from claiming: the constraint checker's status and the scheduler's
  // pod check, each kept in a KV bucket so that a restarted claimer reads the current word.
  // Until the constraint checker speaks (or when its key is deleted) a class is enabled; until
  // the pod check has accepted a pod built from this config, it waits.
  const gates = new ClassGates(d.logger);
  const watching = new AbortController();
  const statusKv = await retry('the constraint status bucket', () =>
    d.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus),
  );
  const constraintClass = new Map(classes.map((rc) => [constraintStatusKey(rc), rc]));
  const onConstraint = (rc: string, v: ConstraintStatus | undefined) =>
    gates.set(
      rc,
      'constraints',
      v?.enabled === false ? `constraint checker: ${v.reason || 'no node fits'}` : undefined,
    );
  for (const [key, rc] of constraintClass)
    onConstraint(rc, (await retry(`the constraint status of ${rc}`, () => statusKv.get(key)))?.value);
  const watches: Promise<void>[] = [
    (async () => {
      for await (const c of statusKv.watch({ signal: watching.signal })) {
        const rc = constraintClass.get(c.key);
        if (rc !== undefined) onConstraint(rc, c.value);
      }
    })().catch((err: unknown) => d.logger.error({ err }, 'constraint status watch stopped')),
  ];
  const fingerprints = d.podCheckFingerprints;
  if (fingerprints !== undefined) {
    const podKv = await retry('the pod check bucket', () => d.bus.kv(POD_CHECK_KV_BUCKET, PodCheckResult));
    const podClass = new Map(classes.map((rc) => [podCheckKey(rc), rc]));
    const onPodCheck = (rc: string, v: PodCheckResult | undefined) => {
      const gate = podCheckGate(v, fingerprints[rc] ?? '');
      gates.set(
        rc,
        'pod-check',
        gate.state === 'pending'
          ? "pod check: waiting for the scheduler to check this class's pod with the apiserver"
          : gate.claim
            ? undefined
            : `pod check: Kubernetes refused the task pod${v?.field ? ` at ${v.field}` : ''}: ${v?.reason ?? ''}`,
      );
    };
    for (const [key, rc] of podClass)
      onPodCheck(rc, (await retry(`the pod check of ${rc}`, () => podKv.get(key)))?.value);
    watches.push(
      (async () => {
        for await (const c of podKv.watch({ signal: watching.signal })) {
          const rc = podClass.get(c.key);
          if (rc !== undefined) onPodCheck(rc, c.value);
        }
      })().catch((err: unknown) => d.logger.error({ err }, 'pod check watch stopped')),
    );
  }

  const loops = Object.entries(d.tokens).map(([rc, token]) =>
    runClaimLoop({
      resourceClass: rc,
      token,
      api: d.api,
      identity: d.identity,
      capacity,
      taker,
      whyDisabled: (c) => gates.why(c),
      gateChanged: (ms, signal) => gates.changed(ms, signal),
      policy: d.policy ?? DEFAULT_BACKOFF,
      logger: d.logger.child({ unit: 'claim-loop', resource_class: rc }),
      metrics: {
        claim: (outcome) => claims.inc({ resource_class: rc, outcome }),
        dropped: (stage, outcome, error) => recordDrop(rc, stage, outcome, error),
      },
      report: (e) => board.report(rc, e),
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
        for (const rc of Object.keys(d.tokens)) board.report(rc, { kind: 'draining' });
        await Promise.allSettled(loops);
        await taker.settled();
        d.logger.info({ in_flight: capacity.inFlight, grace_ms: graceMs }, 'draining: no new claims');
        const deadline = Date.now() + graceMs;
        while (capacity.inFlight > 0 && Date.now() < deadline) await sleep(100);
        const left = capacity.inFlight;
        watching.abort();
        // The heartbeat stops last: what is still held then is taken over by the others.
        await Promise.allSettled([finisher.stop(), ...watches, watch.stop(), board.stop()]);
        await adopter.stop();
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
  const runner = d.runner ?? d.identity.name;
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
