import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { stageSeconds, taskStageHistogram } from './metrics.ts';

describe('stageSeconds', () => {
  it('is the time between two moments, from an ISO time or ms', () => {
    expect(stageSeconds('2026-12-05T04:00:00.000Z', Date.parse('2026-12-05T04:00:01.250Z'))).toBe(1.25);
    expect(stageSeconds(1_000, 3_500)).toBe(2.5);
    expect(stageSeconds(1_000, 1_000)).toBe(0);
  });

  it('is nothing when the start is unknown, unreadable or after the end', () => {
    expect(stageSeconds(undefined, 1_000)).toBeUndefined();
    expect(stageSeconds('yesterday', 1_000)).toBeUndefined();
    expect(stageSeconds(2_000, 1_000)).toBeUndefined();
  });
});

describe('taskStageHistogram', () => {
  it("observes each stage on the service's own name, by class and stage, and skips an unknown start", async () => {
    const registry = new Registry();
    const stages = taskStageHistogram(registry, 'vm-scaler');
    stages.observe('running', 'acme/a', 0, 300);
    stages.observe('running', 'acme/a', undefined, 300);
    const text = await registry.metrics();
    expect(text).toContain(
      'longshore_vm_scaler_task_stage_seconds_count{resource_class="acme/a",stage="running"} 1',
    );
    expect(text).toContain(
      'longshore_vm_scaler_task_stage_seconds_bucket{le="0.5",resource_class="acme/a",stage="running"} 1',
    );
    expect(text).toContain(
      'longshore_vm_scaler_task_stage_seconds_bucket{le="0.25",resource_class="acme/a",stage="running"} 0',
    );
  });
});
