// One GC sweep: list our pods and Secrets and every open claim -> planSweep -> delete in
// bounded batches at a bounded request rate, re-announce or interrupt claims that lost
// their pod, and report the sweep on the bus. `startGc` runs it every interval under the
// Redis lease. Every action is safe to repeat, so a sweep killed half-way loses nothing:
// the next one lists again and finishes the job.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, V1ObjectMeta } from '@kubernetes/client-node';
import type { Bus } from '@longshore/bus';
import {
  type GcSweepReport,
  MANAGED_SELECTOR,
  Subjects,
  taskClaimedEvent,
  taskInterruptedEvent,
  taskMsgId,
} from '@longshore/contracts';
import { isConflict, isNotFound, kubeErrorMessage } from '@longshore/kube';
import type { ClaimLedger, ClaimRecord } from '@longshore/ledger';
import type { Logger } from '@longshore/logging';
import { every } from '@longshore/runtime';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { SweepLease } from './lease.ts';
import { GcMetrics } from './metrics.ts';
import { type Deletion, isManaged, type ObjectInfo, planSweep } from './plan.ts';
import { RateLimiter } from './rate-limiter.ts';

/** Same ceiling as the scheduler's: a task is retried at most this many times. */
const MAX_RETRIES = 3;
const LIST_PAGE = 500;

export interface GcSettings {
  namespace: string;
  /** Name of this instance (agent.name or host), in the sweep report. */
  runner: string;
  intervalMs: number;
  thresholdMs: number;
  claimGraceMs: number;
  orphanGraceMs: number;
  maxRequestsPerSecond: number;
  batchSize: number;
  /** Classes with enableUnsafeRetries: an interrupted task of these may be retried. */
  unsafeRetryClasses: ReadonlySet<string>;
}

export interface GcDeps {
  core: CoreV1Api;
  bus: Bus;
  ledger: ClaimLedger;
  redis: Redis;
  /** cfg.redis.keyPrefix's lease key, redisKeys(prefix).lock('gc-sweep'). */
  leaseKey: string;
  settings: GcSettings;
  logger: Logger;
  registry: Registry;
}

/** Why a sweep ended early: shutdown (between batches) or the lease was lost. */
export class SweepStopped extends Error {
  override name = 'SweepStopped';
}

export class GcSweeper {
  readonly #d: GcDeps;
  readonly #metrics: GcMetrics;
  readonly #lease: SweepLease;
  /** The ledger generation the last sweep saw. */
  #generation: string | undefined;

  constructor(d: GcDeps) {
    this.#d = d;
    this.#metrics = new GcMetrics(d.registry);
    this.#lease = new SweepLease(
      d.redis,
      d.leaseKey,
      `${d.settings.runner}.${randomBytes(4).toString('hex')}`,
    );
  }

  /** Sweeps if this instance wins the interval's lease; undefined when another one holds it. */
  async tick(signal: AbortSignal): Promise<GcSweepReport | undefined> {
    if (!(await this.#lease.acquire(this.#d.settings.intervalMs))) {
      this.#metrics.sweeps.inc({ outcome: 'skipped' });
      return undefined;
    }
    return this.sweepOnce(signal);
  }

  /** One full sweep, lease or not (the lease is the caller's business). */
  async sweepOnce(signal: AbortSignal = new AbortController().signal): Promise<GcSweepReport> {
    const { settings: s, logger } = this.#d;
    const started = new Date();
    const limiter = new RateLimiter(s.maxRequestsPerSecond);
    const report: GcSweepReport = {
      runner: s.runner,
      at: started.toISOString(),
      duration_ms: 0,
      pods_deleted: 0,
      secrets_deleted: 0,
      claims_reannounced: 0,
      claims_interrupted: 0,
      errors: 0,
    };
    const stopTimer = this.#metrics.duration.startTimer();
    let outcome = 'completed';
    try {
      const generation = await this.#d.ledger.generation();
      if (this.#generation !== undefined && this.#generation !== generation.id) {
        logger.error(
          { since: new Date(generation.since).toISOString(), orphan_grace_ms: s.orphanGraceMs },
          'the claim ledger lost its data: task pods without a claim are kept for the orphan grace while the claimers write their claims back',
        );
        this.#metrics.ledgerLosses.inc();
      }
      this.#generation = generation.id;
      const [pods, secrets, claims] = await Promise.all([
        this.#list('pods', limiter),
        this.#list('secrets', limiter),
        this.#d.ledger.allClaims({
          onUnreadable: (id) => {
            report.errors++;
            logger.warn({ task_id: id }, 'unreadable claim record skipped');
          },
        }),
      ]);
      const plan = planSweep({
        pods,
        secrets,
        claims,
        now: Date.now(),
        thresholdMs: s.thresholdMs,
        claimGraceMs: s.claimGraceMs,
        orphanGraceMs: s.orphanGraceMs,
        ledgerSince: generation.since,
      });
      logger.debug(
        {
          listed: { pods: pods.length, secrets: secrets.length, claims: claims.length },
          planned: {
            pods: plan.pods.length,
            secrets: plan.secrets.length,
            reannounce: plan.reannounce.length,
            interrupt: plan.interrupt.length,
          },
        },
        'gc sweep planned',
      );
      // Claims first: they are few, and a lost task should be reported before its Secret goes.
      const reannounceId = reannounceMsgId(started.getTime(), s.intervalMs);
      for (const c of plan.reannounce)
        if (await this.#claimStep(() => this.#reannounce(c, reannounceId(c)), report))
          report.claims_reannounced++;
      for (const c of plan.interrupt)
        if (await this.#claimStep(() => this.#interrupt(c), report)) report.claims_interrupted++;
      await this.#deleteAll('pod', plan.pods, limiter, signal, report);
      await this.#deleteAll('secret', plan.secrets, limiter, signal, report);
    } catch (err) {
      if (!(err instanceof SweepStopped)) {
        outcome = 'failed';
        report.errors++;
        logger.error({ err }, 'gc sweep failed');
      } else {
        outcome = 'stopped';
        logger.info({ why: err.message }, 'gc sweep stopped early');
      }
    } finally {
      stopTimer();
      report.duration_ms = Date.now() - started.getTime();
    }
    this.#metrics.sweeps.inc({ outcome });
    logger.info({ ...report, outcome }, 'gc sweep done');
    await this.#d.bus
      .publish(Subjects.gcSwept, report, { msgId: `gc.${report.at}` })
      .catch((err: unknown) => logger.warn({ err }, 'could not publish the gc sweep report'));
    return report;
  }

  async #list(kind: 'pods' | 'secrets', limiter: RateLimiter): Promise<ObjectInfo[]> {
    const { core, settings } = this.#d;
    const out: ObjectInfo[] = [];
    let cont: string | undefined;
    do {
      await limiter.take();
      const req = {
        namespace: settings.namespace,
        labelSelector: MANAGED_SELECTOR,
        limit: LIST_PAGE,
        ...(cont ? { _continue: cont } : {}),
      };
      const page = kind === 'pods' ? await core.listNamespacedPod(req) : await core.listNamespacedSecret(req);
      for (const item of page.items) {
        const info = infoOf(
          item.metadata,
          kind === 'pods' ? (item as { status?: { phase?: string } }).status?.phase : undefined,
        );
        if (info) out.push(info);
      }
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return out;
  }

  async #deleteAll(
    kind: 'pod' | 'secret',
    items: Deletion[],
    limiter: RateLimiter,
    signal: AbortSignal,
    report: GcSweepReport,
  ): Promise<void> {
    const { core, settings, logger } = this.#d;
    for (let i = 0; i < items.length; i += settings.batchSize) {
      if (signal.aborted) throw new SweepStopped('shutting down');
      if (i > 0 && !(await this.#lease.extend(settings.intervalMs)))
        logger.warn('gc sweep lease expired during a long sweep; carrying on (deletes are idempotent)');
      const batch = items.slice(i, i + settings.batchSize);
      const results = await Promise.all(
        batch.map(async (o) => {
          await limiter.take();
          // The uid precondition makes the apiserver refuse to delete a same-named object
          // that is not the one we listed (and checked the label of).
          const body = { preconditions: { uid: o.uid } };
          try {
            if (kind === 'pod')
              await core.deleteNamespacedPod({ name: o.name, namespace: settings.namespace, body });
            else await core.deleteNamespacedSecret({ name: o.name, namespace: settings.namespace, body });
            return true;
          } catch (err) {
            if (isNotFound(err) || isConflict(err)) return false;
            report.errors++;
            // Left for the next sweep, which lists again.
            logger.warn({ err: kubeErrorMessage(err), kind, name: o.name }, 'gc could not delete');
            return false;
          }
        }),
      );
      for (const [j, ok] of results.entries()) {
        if (!ok) continue;
        if (kind === 'pod') report.pods_deleted++;
        else report.secrets_deleted++;
        this.#metrics.deleted.inc({ kind, reason: batch[j]!.reason });
      }
    }
  }

  /** Runs one claim's step; true when it did something (a re-announce another replica made already is not). */
  async #claimStep(step: () => Promise<boolean>, report: GcSweepReport): Promise<boolean> {
    try {
      return await step();
    } catch (err) {
      report.errors++;
      this.#d.logger.warn({ err }, 'gc could not reconcile a claim');
      return false;
    }
  }

  async #reannounce(c: ClaimRecord, msgId: string): Promise<boolean> {
    // The claim's own id is the claimer's announce: a re-announce has one of its own (msgId).
    const ev = taskClaimedEvent(c, c);
    const sent = await this.#d.bus.publish(ev.subject, ev.payload, { msgId });
    if (sent.duplicate) {
      // Another gc replica re-announced it in this same sweep interval: one is enough.
      this.#d.logger.debug({ task_id: c.taskId, attempt: c.attempt }, 'claim already re-announced');
      return false;
    }
    this.#metrics.claims.inc({ action: 'reannounced' });
    this.#d.logger.info({ task_id: c.taskId, attempt: c.attempt }, 'claim without a pod re-announced');
    return true;
  }

  async #interrupt(c: ClaimRecord): Promise<boolean> {
    const toRetry =
      this.#d.settings.unsafeRetryClasses.has(c.resourceClass) &&
      (await this.#d.ledger.retriesUsed(c.taskId)) < MAX_RETRIES;
    const error = 'task pod disappeared';
    // The claim's own claimer closes it, so the event names the claim's runner (c.runner).
    const ev = taskInterruptedEvent(c, {
      namespace: this.#d.settings.namespace,
      reason: 'lost',
      error,
      toRetry,
    });
    await this.#d.bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
    this.#metrics.claims.inc({ action: 'interrupted' });
    this.#d.logger.warn(
      { task_id: c.taskId, attempt: c.attempt, error, 'app.to_retry': toRetry },
      'task interrupted',
    );
    return true;
  }
}

/**
 * The JetStream msg id of a re-announce, by claim and by the sweep's interval. Not the
 * claimer's own `<task>.<attempt>.claimed`: the stream drops a repeat of that within its
 * duplicate window (2 min), so with a claimGrace shorter than the window every re-announce
 * would vanish. Each interval's sweep re-announces anew; within one interval, sweeps of two
 * replicas (a lease that ran out mid-sweep) deliver it once.
 */
export function reannounceMsgId(sweepStartedMs: number, intervalMs: number): (c: ClaimRecord) => string {
  const bucket = Math.floor(sweepStartedMs / Math.max(1, intervalMs));
  return (c) => taskMsgId(c.taskId, c.attempt, `reannounced.${bucket}`);
}

function infoOf(meta: V1ObjectMeta | undefined, phase: string | undefined): ObjectInfo | undefined {
  if (!meta?.name || !meta.uid) return undefined;
  const info: ObjectInfo = {
    name: meta.name,
    uid: meta.uid,
    labels: meta.labels ?? {},
    createdAt: meta.creationTimestamp ? new Date(meta.creationTimestamp).getTime() : Number.NaN,
    ...(phase === undefined ? {} : { phase }),
  };
  // Never act on what is not ours, whatever the selector returned.
  return isManaged(info) ? info : undefined;
}

export interface GcHandle {
  stop(): Promise<void>;
  /** The sweep running now, if any (tests wait on it). */
  sweeping(): Promise<unknown> | undefined;
}

/**
 * Runs a tick now and then an interval after each one ends, until stopped; a sweep in
 * progress stops at its next batch.
 */
export function startGc(d: GcDeps): GcHandle {
  const sweeper = new GcSweeper(d);
  let current: Promise<unknown> | undefined;
  const loop = every(
    d.settings.intervalMs,
    async (signal) => {
      current = sweeper.tick(signal);
      try {
        await current;
      } finally {
        current = undefined;
      }
    },
    { onError: (err) => d.logger.error({ err }, 'gc tick failed') },
  );
  return {
    sweeping: () => current,
    stop: () => loop.stop(),
  };
}
