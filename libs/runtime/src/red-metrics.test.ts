import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { busMetrics, kubeMetrics, measuredLedger, metricPrefix, runnerApiMetrics } from './red-metrics.ts';

/** The exposition lines of a registry that start with `name` (samples only). */
async function samples(registry: Registry, name: string): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(name));
}

describe('metricPrefix', () => {
  it("is longshore_ and the service's name with - as _", () => {
    expect(metricPrefix('vm-scaler')).toBe('longshore_vm_scaler');
    expect(metricPrefix('claimer')).toBe('longshore_claimer');
  });
});

describe('busMetrics', () => {
  it('counts publishes, handled messages and rejects by subject without the prefix, never a KV key', async () => {
    const registry = new Registry();
    const m = busMetrics(registry, 'scheduler', 'tenant-a');
    m.published?.('tenant-a.task.scheduled', 'ok', 3);
    m.published?.('tenant-a.task.scheduled', 'error', 5_000);
    m.handled?.('tenant-a.task.claimed', 'ack', 40);
    m.handled?.('tenant-a.task.claimed', 'error', 2);
    m.rejected?.('tenant-a.task.claimed', 'not-json');
    m.rejected?.('tenant-a.no.such.subject', 'unknown-subject');
    m.rejected?.('kv.tenant-a_pod-checks.org/class-abc123', 'invalid');
    expect(await samples(registry, 'longshore_scheduler_bus_published_total')).toEqual([
      'longshore_scheduler_bus_published_total{subject="task.scheduled",outcome="ok"} 1',
      'longshore_scheduler_bus_published_total{subject="task.scheduled",outcome="error"} 1',
    ]);
    expect(await samples(registry, 'longshore_scheduler_bus_publish_duration_seconds_bucket{le="5"')).toEqual(
      [
        'longshore_scheduler_bus_publish_duration_seconds_bucket{le="5",subject="task.scheduled",outcome="ok"} 1',
        'longshore_scheduler_bus_publish_duration_seconds_bucket{le="5",subject="task.scheduled",outcome="error"} 1',
      ],
    );
    expect(await samples(registry, 'longshore_scheduler_bus_handled_total')).toEqual([
      'longshore_scheduler_bus_handled_total{subject="task.claimed",outcome="ok"} 1',
      'longshore_scheduler_bus_handled_total{subject="task.claimed",outcome="error"} 1',
    ]);
    expect(
      await samples(registry, 'longshore_scheduler_bus_handle_duration_seconds_bucket{le="0.05"'),
    ).toEqual([
      'longshore_scheduler_bus_handle_duration_seconds_bucket{le="0.05",subject="task.claimed",outcome="ok"} 1',
      'longshore_scheduler_bus_handle_duration_seconds_bucket{le="0.05",subject="task.claimed",outcome="error"} 1',
    ]);
    expect(await samples(registry, 'longshore_scheduler_bus_rejected_total')).toEqual([
      'longshore_scheduler_bus_rejected_total{subject="task.claimed",reason="not-json"} 1',
      'longshore_scheduler_bus_rejected_total{subject="other",reason="unknown-subject"} 1',
      'longshore_scheduler_bus_rejected_total{subject="kv.pod-checks",reason="invalid"} 1',
    ]);
  });

  it('shares its metrics with a second adapter on the same registry', async () => {
    const registry = new Registry();
    busMetrics(registry, 'gc', 'p').published?.('p.gc.swept', 'ok', 1);
    busMetrics(registry, 'gc', 'p').published?.('p.gc.swept', 'ok', 1);
    expect(await samples(registry, 'longshore_gc_bus_published_total')).toEqual([
      'longshore_gc_bus_published_total{subject="gc.swept",outcome="ok"} 2',
    ]);
  });
});

describe('kubeMetrics', () => {
  it('counts and times requests by verb, resource and outcome', async () => {
    const registry = new Registry();
    const observe = kubeMetrics(registry, 'vm-scaler');
    observe('get', 'virtualmachinepools', '2xx', 12);
    observe('watch', 'pods', '2xx', 30);
    observe('create', 'pods', 'error', 10_000);
    expect(await samples(registry, 'longshore_vm_scaler_kube_requests_total')).toEqual([
      'longshore_vm_scaler_kube_requests_total{verb="get",resource="virtualmachinepools",outcome="2xx"} 1',
      'longshore_vm_scaler_kube_requests_total{verb="watch",resource="pods",outcome="2xx"} 1',
      'longshore_vm_scaler_kube_requests_total{verb="create",resource="pods",outcome="error"} 1',
    ]);
    expect(
      await samples(registry, 'longshore_vm_scaler_kube_request_duration_seconds_bucket{le="0.025"'),
    ).toEqual([
      'longshore_vm_scaler_kube_request_duration_seconds_bucket{le="0.025",verb="get",resource="virtualmachinepools",outcome="2xx"} 1',
      'longshore_vm_scaler_kube_request_duration_seconds_bucket{le="0.025",verb="watch",resource="pods",outcome="2xx"} 0',
      'longshore_vm_scaler_kube_request_duration_seconds_bucket{le="0.025",verb="create",resource="pods",outcome="error"} 0',
    ]);
  });
});

describe('runnerApiMetrics', () => {
  it('counts and times calls by operation and outcome', async () => {
    const registry = new Registry();
    const observe = runnerApiMetrics(registry, 'claimer');
    observe('claim', '2xx', 8);
    observe('claim', 'timeout', 10_000);
    expect(await samples(registry, 'longshore_claimer_runner_api_requests_total')).toEqual([
      'longshore_claimer_runner_api_requests_total{operation="claim",outcome="2xx"} 1',
      'longshore_claimer_runner_api_requests_total{operation="claim",outcome="timeout"} 1',
    ]);
    expect(await samples(registry, 'longshore_claimer_runner_api_request_duration_seconds_sum')).toEqual([
      'longshore_claimer_runner_api_request_duration_seconds_sum{operation="claim",outcome="2xx"} 0.008',
      'longshore_claimer_runner_api_request_duration_seconds_sum{operation="claim",outcome="timeout"} 10',
    ]);
  });
});

/** A ledger-like class with private state, as RedisClaimLedger has. */
class Ledger {
  #calls = 0;
  #fail = false;
  get calls(): number {
    return this.#calls;
  }
  failNext(): void {
    this.#fail = true;
  }
  async get(id: string): Promise<string> {
    this.#calls++;
    if (this.#fail) {
      this.#fail = false;
      throw new Error(`redis down (${id})`);
    }
    return `record ${id}`;
  }
}

describe('measuredLedger', () => {
  it('counts and times each asynchronous method by name and outcome, and passes results and errors on', async () => {
    const registry = new Registry();
    const inner = new Ledger();
    const ledger = measuredLedger(inner, registry, 'gc');
    expect(await ledger.get('t1')).toBe('record t1');
    ledger.failNext();
    await expect(ledger.get('t2')).rejects.toThrow('redis down (t2)');
    expect(ledger.calls).toBe(2);
    expect(ledger).toBeInstanceOf(Ledger);
    expect(await samples(registry, 'longshore_gc_ledger_operations_total')).toEqual([
      'longshore_gc_ledger_operations_total{operation="get",outcome="ok"} 1',
      'longshore_gc_ledger_operations_total{operation="get",outcome="error"} 1',
    ]);
    expect(await samples(registry, 'longshore_gc_ledger_operation_duration_seconds_count')).toEqual([
      'longshore_gc_ledger_operation_duration_seconds_count{operation="get",outcome="ok"} 1',
      'longshore_gc_ledger_operation_duration_seconds_count{operation="get",outcome="error"} 1',
    ]);
  });

  it('has an error count of 0 for an operation that has only worked, so a rate of its errors is 0, not absent', async () => {
    const registry = new Registry();
    const ledger = measuredLedger(new Ledger(), registry, 'gc');
    await ledger.get('t1');
    expect(await samples(registry, 'longshore_gc_ledger_operations_total')).toEqual([
      'longshore_gc_ledger_operations_total{operation="get",outcome="ok"} 1',
      'longshore_gc_ledger_operations_total{operation="get",outcome="error"} 0',
    ]);
  });

  it('leaves methods that do not go to Redis (no promise) uncounted', async () => {
    const registry = new Registry();
    const ledger = measuredLedger(new Ledger(), registry, 'gc');
    ledger.failNext();
    expect(await samples(registry, 'longshore_gc_ledger_operations_total')).toEqual([]);
  });
});
