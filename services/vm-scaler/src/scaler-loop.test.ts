// The loop's sequencing with hand-written fakes of its two ports and a real logger writing
// to memory, so the log lines are checked exactly as they would reach stderr.
import { Writable } from 'node:stream';
import type { ScalerDecision } from '@longshore/contracts';
import { createLogger } from '@longshore/logging';
import { createMetricsRegistry, nextRunDelay } from '@longshore/runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createScalerMetrics } from './metrics.ts';
import { PoolScaleError, type PoolScaler, type PoolSize } from './pool-scaler.ts';
import { type RunnerQueue, RunnerQueueError } from './runner-queue.ts';
import { ScalerLoop, scalerBackoff } from './scaler-loop.ts';
import type { PoolRef } from './vm-pool.ts';

const POOL: PoolRef = { namespace: 'runners', name: 'my-org-my-runner-abc123' };

/** A queue whose counts (or failures) the test sets. */
class FakeQueue implements RunnerQueue {
  unclaimed: number | Error = 0;
  running: number | Error = 0;
  /** Cycles that asked for the counts. */
  polls = 0;
  async unclaimedTasks(): Promise<number> {
    this.polls++;
    if (this.unclaimed instanceof Error) throw this.unclaimed;
    return this.unclaimed;
  }
  async runningTasks(): Promise<number> {
    if (this.running instanceof Error) throw this.running;
    return this.running;
  }
}

/** A pool that remembers its size and counts the scale requests it got. */
class FakePool implements PoolScaler {
  replicas = 0;
  ready = 0;
  scaleRequests: number[] = [];
  missing = false;
  async size(): Promise<PoolSize> {
    if (this.missing) throw new PoolScaleError('not-found', 'VirtualMachinePool runners/x not found');
    return { replicas: this.replicas, readyReplicas: this.ready };
  }
  async setReplicas(_pool: PoolRef, n: number): Promise<void> {
    this.scaleRequests.push(n);
    this.replicas = n;
  }
}

function setup(bounds = { min: 3, max: 10 }, recreatePool?: () => Promise<void>) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const logger = createLogger({ name: 'vm-scaler', destination });
  const registry = createMetricsRegistry('vm-scaler');
  const queue = new FakeQueue();
  const pool = new FakePool();
  const published: { decision: ScalerDecision; msgId: string }[] = [];
  const loop = new ScalerLoop({
    cls: { resourceClass: 'my-org/my-runner', minReplicas: bounds.min, maxReplicas: bounds.max, pool: POOL },
    queue,
    scaler: pool,
    logger,
    metrics: createScalerMetrics(registry),
    publish: (decision, msgId) => published.push({ decision, msgId }),
    intervalMs: 1000,
    ...(recreatePool ? { recreatePool } : {}),
  });
  /** Log records without pino's own fields (time, pid, hostname, level, name). */
  const records = () =>
    lines.map(({ time: _t, pid: _p, hostname: _h, name: _n, ...rest }) => rest as Record<string, unknown>);
  return { loop, queue, pool, published, records, registry };
}

describe('ScalerLoop.cycle', () => {
  it("logs seed 002's line each cycle and scales the pool to unclaimed + running", async () => {
    const t = setup();
    t.queue.unclaimed = 4;
    t.queue.running = 2;
    const r = await t.loop.cycle();
    expect(r.ok).toBe(true);
    expect(t.pool.scaleRequests).toEqual([6]);
    expect(t.records()).toEqual([
      {
        level: 30,
        loop_name: 'scaler',
        resource_class: 'my-org/my-runner',
        unclaimed_tasks: 4,
        running_tasks: 2,
        desired_vms: 6,
        msg: 'worker loop scaler',
      },
    ]);
  });

  it('sends no scale request while the decision stays the same, but logs and publishes every cycle', async () => {
    const t = setup();
    await t.loop.cycle();
    await t.loop.cycle();
    await t.loop.cycle();
    expect(t.pool.scaleRequests).toEqual([3]);
    expect(t.records().map((r) => r.desired_vms)).toEqual([3, 3, 3]);
    expect(
      t.published.map((p) => [p.decision.previous_vms, p.decision.desired_vms, p.decision.scaled]),
    ).toEqual([
      [0, 3, true],
      [3, 3, false],
      [3, 3, false],
    ]);
    expect(new Set(t.published.map((p) => p.msgId)).size).toBe(3);
    expect(t.published[0]?.decision).toMatchObject({
      resource_class: 'my-org/my-runner',
      pool: POOL.name,
      namespace: 'runners',
      unclaimed_tasks: 0,
      running_tasks: 0,
    });
    expect(await t.registry.getSingleMetricAsString('longshore_vm_scaler_scale_requests_total')).toContain(
      'longshore_vm_scaler_scale_requests_total{resource_class="my-org/my-runner",service="vm-scaler"} 1',
    );
  });

  it('clamps to maxReplicas and back down to minReplicas', async () => {
    const t = setup({ min: 1, max: 5 });
    t.queue.unclaimed = 40;
    await t.loop.cycle();
    t.queue.unclaimed = 0;
    await t.loop.cycle();
    expect(t.pool.scaleRequests).toEqual([5, 1]);
  });

  it("sets the ready VMs from the pool's status beside the desired ones, each cycle", async () => {
    const t = setup({ min: 1, max: 10 });
    t.queue.unclaimed = 4;
    t.pool.ready = 2;
    await t.loop.cycle();
    const gauge = async (name: string) =>
      (await t.registry.getSingleMetric(name)?.get())?.values.map((v) => [v.labels.resource_class, v.value]);
    expect(await gauge('longshore_vm_scaler_ready_vms')).toEqual([['my-org/my-runner', 2]]);
    expect(await gauge('longshore_vm_scaler_desired_vms')).toEqual([['my-org/my-runner', 4]]);
    t.pool.ready = 4;
    await t.loop.cycle();
    expect(await gauge('longshore_vm_scaler_ready_vms')).toEqual([['my-org/my-runner', 4]]);
  });

  it("keeps the pool's size and logs seed 002's messages when a count cannot be read", async () => {
    const t = setup();
    t.pool.replicas = 6;
    t.queue.unclaimed = new RunnerQueueError(
      'status',
      'GET /api/v3/runner/tasks?resource-class=my-org/my-runner: HTTP 503',
      {
        status: 503,
      },
    );
    t.queue.running = new RunnerQueueError(
      'malformed',
      'GET /api/v3/runner/tasks/running: response is not JSON',
    );
    expect(await t.loop.cycle()).toEqual({ ok: false });
    expect(t.pool.scaleRequests).toEqual([]);
    expect(t.published).toEqual([]);
    const recs = t.records();
    expect(recs.map((r) => [r.level, r.loop_name, r.msg])).toEqual([
      [50, 'scaler', 'failed to get unclaimed tasks'],
      [50, 'scaler', 'failed to get running tasks'],
    ]);
    expect(recs[0]?.error).toMatchObject({ message: expect.stringContaining('HTTP 503') });
  });

  it('passes on a Retry-After so the loop waits at least that long', async () => {
    const t = setup();
    t.queue.running = new RunnerQueueError('rate-limited', '429', { status: 429, retryAfterMs: 7000 });
    expect(await t.loop.cycle()).toEqual({ ok: false, retryAfterMs: 7000 });
  });

  it('creates the pool again when it was deleted from outside', async () => {
    let recreated = 0;
    const t = setup(undefined, async () => {
      recreated++;
    });
    t.pool.missing = true;
    expect((await t.loop.cycle()).ok).toBe(false);
    expect(recreated).toBe(1);
    expect(t.records().map((r) => r.msg)).toEqual([
      'failed to read the pool size',
      'the VirtualMachinePool is gone; creating it again',
    ]);
  });
});

describe('ScalerLoop timer', () => {
  it('runs cycles on its own until stopped', async () => {
    const t = setup();
    const loop = new ScalerLoop({
      cls: { resourceClass: 'a/b', minReplicas: 0, maxReplicas: 2, pool: POOL },
      queue: t.queue,
      scaler: t.pool,
      logger: createLogger({ name: 't', level: 'silent' }),
      metrics: createScalerMetrics(createMetricsRegistry('t')),
      publish: () => {},
      intervalMs: 10,
    });
    t.queue.unclaimed = 2;
    loop.start();
    await new Promise((r) => setTimeout(r, 100));
    await loop.stop();
    expect(t.pool.scaleRequests).toEqual([2]);
    expect(loop.health.lastSuccessAt).toBeDefined();
    expect(loop.health.lastDecision?.desired_vms).toBe(2);
    await loop.stop();
  });
});

describe('ScalerLoop timer after failures', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("backs off after failed cycles, at least as long as the API's Retry-After, and counts them in its health", async () => {
    vi.useFakeTimers();
    const t = setup();
    t.queue.running = new RunnerQueueError('rate-limited', '429', { status: 429, retryAfterMs: 7000 });
    t.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.queue.polls).toBe(1);
    t.queue.running = new RunnerQueueError('status', '503', { status: 503 });
    await vi.advanceTimersByTimeAsync(6_999); // the first backoff step is 2 s; Retry-After says 7
    expect(t.queue.polls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.queue.polls).toBe(2);
    expect(t.loop.health.consecutiveFailures).toBe(2);
    await vi.advanceTimersByTimeAsync(3_999); // second failure in a row: 4 s
    expect(t.queue.polls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.queue.polls).toBe(3);
    t.queue.running = 0;
    await vi.advanceTimersByTimeAsync(8_000);
    expect(t.queue.polls).toBe(4);
    expect(t.loop.health.consecutiveFailures).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000); // back on the 1 s interval
    expect(t.queue.polls).toBe(5);
    await t.loop.stop();
  });
});

describe('scalerBackoff', () => {
  it('doubles from the interval up to the cap, and honours Retry-After', () => {
    const after = (intervalMs: number, failures: number, retryAfterMs?: number) =>
      nextRunDelay(intervalMs, failures, scalerBackoff(intervalMs, 30_000), retryAfterMs);
    expect([1, 2, 3, 4, 5, 6].map((n) => after(1000, n))).toEqual([2000, 4000, 8000, 16000, 30000, 30000]);
    expect(after(1000, 1, 10_000)).toBe(10_000);
    expect(after(60_000, 1)).toBe(60_000);
    expect(after(1000, 500)).toBe(30_000);
  });
});

describe('createScalerMetrics', () => {
  it('shares the metrics of a registry between scalers instead of registering twice', () => {
    const registry = createMetricsRegistry('vm-scaler');
    expect(createScalerMetrics(registry)).toBe(createScalerMetrics(registry));
  });
});
