// The scaling loop of one resource class (seed 002, "Scaling behavior"): every interval,
// read the class's unclaimed and running task counts, decide the pool size with
// desiredReplicas, and set it through the scale subresource when it differs from the
// pool's. Each class has its own loop and timer, so a slow class never delays another.
// On a failure the pool keeps its size (the last good decision) and the loop backs off.
import type { ScalerDecision } from '@longshore/contracts';
import type { Logger } from '@longshore/logging';
import { type Backoff, every, type Periodic, type RunOutcome } from '@longshore/runtime';
import { desiredReplicas } from './desired-replicas.ts';
import { errFields } from './log-fields.ts';
import type { ScalerErrorKind, ScalerMetrics } from './metrics.ts';
import { PoolScaleError, type PoolScaler } from './pool-scaler.ts';
import { type RunnerQueue, RunnerQueueError } from './runner-queue.ts';
import type { PoolRef } from './vm-pool.ts';

/** Message of the per-cycle log line: seed 002's span is named "worker loop scaler". */
export const CYCLE_MESSAGE = 'worker loop scaler';
/** Seed 002's error messages, verbatim. */
export const UNCLAIMED_FAILED = 'failed to get unclaimed tasks';
export const RUNNING_FAILED = 'failed to get running tasks';

export interface ScalerClass {
  readonly resourceClass: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly pool: PoolRef;
}

export interface ScalerLoopOptions {
  readonly cls: ScalerClass;
  readonly queue: RunnerQueue;
  readonly scaler: PoolScaler;
  /** The service logger; the loop logs through a child bound to `loop_name: "scaler"` and the class. */
  readonly logger: Logger;
  readonly metrics: ScalerMetrics;
  /** Hands a decision to the bus. Must not throw; delivery is the callee's business. */
  readonly publish: (decision: ScalerDecision, msgId: string) => void;
  /** Pause between cycles (seed 002: one second). */
  readonly intervalMs: number;
  /** Longest pause after repeated failures. Default 30 s. */
  readonly maxBackoffMs?: number;
  /** Called when the pool has disappeared, to create it again. */
  readonly recreatePool?: () => Promise<void>;
}

export type CycleResult =
  | { readonly ok: true; readonly decision: ScalerDecision }
  | { readonly ok: false; readonly retryAfterMs?: number };

export interface LoopHealth {
  /** When a cycle last completed without error (epoch ms). */
  readonly lastSuccessAt: number | undefined;
  readonly consecutiveFailures: number;
  readonly lastDecision: ScalerDecision | undefined;
}

export class ScalerLoop {
  readonly #o: ScalerLoopOptions;
  readonly #log: Logger;
  readonly #labels: { resource_class: string };
  readonly #stop = new AbortController();
  /** Makes message ids unique across this loop's lifetime and across restarts. */
  readonly #idPrefix: string;
  #seq = 0;
  #loop: Periodic | undefined;
  #lastSuccessAt: number | undefined;
  #failures = 0;
  #lastDecision: ScalerDecision | undefined;

  constructor(options: ScalerLoopOptions) {
    this.#o = options;
    const { cls } = options;
    this.#labels = { resource_class: cls.resourceClass };
    this.#log = options.logger.child({ loop_name: 'scaler', resource_class: cls.resourceClass });
    this.#idPrefix = `${cls.pool.namespace}/${cls.pool.name}:${Date.now()}`;
  }

  get health(): LoopHealth {
    return {
      lastSuccessAt: this.#lastSuccessAt,
      consecutiveFailures: this.#failures,
      lastDecision: this.#lastDecision,
    };
  }

  /** Runs cycles until stop(); the first one at once. */
  start(): void {
    if (this.#stop.signal.aborted || this.#loop) return;
    this.#loop = every(this.#o.intervalMs, () => this.#tick(), {
      backoff: scalerBackoff(this.#o.intervalMs, this.#o.maxBackoffMs ?? 30_000),
      // A bug rather than an outage (every expected failure is handled in cycle()); keep going.
      onError: (err) => {
        this.#failures++;
        this.#log.error({ err }, 'scaling cycle failed unexpectedly');
      },
    });
  }

  /** Stops the loop and waits for a cycle in progress (its requests are aborted). Idempotent. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop?.stop();
  }

  /** One poll-decide-scale cycle. */
  async cycle(): Promise<CycleResult> {
    const result = await this.#poll();
    if (!this.#stop.signal.aborted) {
      this.#o.metrics.polls.inc({ ...this.#labels, outcome: result.ok ? 'ok' : 'error' });
    }
    return result;
  }

  async #poll(): Promise<CycleResult> {
    const { cls, queue, scaler, metrics } = this.#o;
    const signal = this.#stop.signal;
    const at = new Date().toISOString();
    const [unclaimed, running] = await Promise.allSettled([
      queue.unclaimedTasks(cls.resourceClass, signal),
      queue.runningTasks(cls.resourceClass, signal),
    ]);
    if (signal.aborted) return { ok: false };
    if (unclaimed.status === 'rejected' || running.status === 'rejected') {
      let retryAfterMs: number | undefined;
      for (const [r, kind, msg] of [
        [unclaimed, 'unclaimed-tasks', UNCLAIMED_FAILED],
        [running, 'running-tasks', RUNNING_FAILED],
      ] as const) {
        if (r.status !== 'rejected') continue;
        this.#failed(kind, msg, r.reason);
        if (r.reason instanceof RunnerQueueError && r.reason.retryAfterMs !== undefined) {
          retryAfterMs = Math.max(retryAfterMs ?? 0, r.reason.retryAfterMs);
        }
      }
      return retryAfterMs === undefined ? { ok: false } : { ok: false, retryAfterMs };
    }

    const desired = desiredReplicas({
      unclaimed: unclaimed.value,
      running: running.value,
      min: cls.minReplicas,
      max: cls.maxReplicas,
    });
    let previous: number;
    try {
      const size = await scaler.size(cls.pool);
      previous = size.replicas;
      metrics.readyVms.set(this.#labels, size.readyReplicas);
    } catch (err) {
      return this.#poolFailed('read-replicas', 'failed to read the pool size', err);
    }
    const scaled = previous !== desired;
    // Stopped meanwhile (its replica lost the lease): another scaler owns the pool now.
    if (signal.aborted) return { ok: false };
    if (scaled) {
      metrics.scaleRequests.inc(this.#labels);
      try {
        await scaler.setReplicas(cls.pool, desired);
      } catch (err) {
        return this.#poolFailed('scale', 'failed to scale the pool', err);
      }
    }

    metrics.unclaimedTasks.set(this.#labels, unclaimed.value);
    metrics.runningTasks.set(this.#labels, running.value);
    metrics.desiredVms.set(this.#labels, desired);
    this.#log.info(
      { unclaimed_tasks: unclaimed.value, running_tasks: running.value, desired_vms: desired },
      CYCLE_MESSAGE,
    );
    const decision: ScalerDecision = {
      resource_class: cls.resourceClass,
      pool: cls.pool.name,
      namespace: cls.pool.namespace,
      at,
      unclaimed_tasks: unclaimed.value,
      running_tasks: running.value,
      desired_vms: desired,
      previous_vms: previous,
      scaled,
    };
    this.#lastDecision = decision;
    this.#o.publish(decision, `${this.#idPrefix}:${++this.#seq}`);
    return { ok: true, decision };
  }

  #failed(kind: ScalerErrorKind, msg: string, err: unknown): void {
    this.#o.metrics.errors.inc({ ...this.#labels, kind });
    this.#log.error(errFields(err), msg);
  }

  async #poolFailed(kind: ScalerErrorKind, msg: string, err: unknown): Promise<CycleResult> {
    if (this.#stop.signal.aborted) return { ok: false };
    this.#failed(kind, msg, err);
    const { recreatePool } = this.#o;
    if (err instanceof PoolScaleError && err.kind === 'not-found' && recreatePool) {
      this.#log.warn({ pool: this.#o.cls.pool.name }, 'the VirtualMachinePool is gone; creating it again');
      try {
        await recreatePool();
      } catch (applyErr) {
        this.#failed('apply-pool', 'failed to create the pool again', applyErr);
      }
    }
    return { ok: false };
  }

  /** One cycle as the loop runs it: a failed one is backed off, never below its Retry-After. */
  async #tick(): Promise<RunOutcome | undefined> {
    const result = await this.cycle();
    if (this.#stop.signal.aborted) return undefined;
    if (result.ok) {
      this.#failures = 0;
      this.#lastSuccessAt = Date.now();
      return undefined;
    }
    this.#failures++;
    return { failed: true, waitAtLeastMs: result.retryAfterMs };
  }
}

/** Pauses after failed cycles in a row: doubling from twice the interval, capped (never below the interval). */
export function scalerBackoff(intervalMs: number, maxMs: number): Backoff {
  return { firstMs: 2 * intervalMs, maxMs: Math.max(maxMs, intervalMs), jitter: 0 };
}
