import { createLogger } from '@longshore/logging';
import { createMetricsRegistry } from '@longshore/runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createScalerMetrics } from './metrics.ts';
import { type FinishedVm, finishedVmsOf, type VmInventory, VmInventoryError, VmReaper } from './vm-reaper.ts';

const vmi = (name: string, phase: string | undefined, extra: Record<string, unknown> = {}) => ({
  metadata: {
    name,
    labels: { 'app.kubernetes.io/managed-by': 'longshore', 'longshore.io/vm-pool': 'pool-a' },
    ownerReferences: [
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name, uid: `uid-${name}`, controller: true },
    ],
    ...extra,
  },
  ...(phase === undefined ? {} : { status: { phase } }),
});

describe('finishedVmsOf', () => {
  it('picks the VMs whose single run ended, by their controlling VirtualMachine', () => {
    const items = [
      vmi('pool-a-0', 'Running'),
      vmi('pool-a-1', 'Succeeded'),
      vmi('pool-a-2', 'Failed'),
      vmi('pool-a-3', 'Scheduling'),
      vmi('pool-a-4', undefined),
    ];
    expect(finishedVmsOf('runners', items)).toEqual([
      { namespace: 'runners', name: 'pool-a-1', uid: 'uid-pool-a-1', pool: 'pool-a', phase: 'Succeeded' },
      { namespace: 'runners', name: 'pool-a-2', uid: 'uid-pool-a-2', pool: 'pool-a', phase: 'Failed' },
    ]);
  });

  it('skips instances being deleted, without a pool label or a VM owner, and things that are not VMIs', () => {
    const items = [
      vmi('a', 'Succeeded', { deletionTimestamp: '2025-01-01T00:00:00Z' }),
      vmi('b', 'Succeeded', { labels: {} }),
      vmi('c', 'Succeeded', { ownerReferences: [] }),
      vmi('d', 'Succeeded', { ownerReferences: [{ kind: 'VirtualMachine', name: 'd', uid: 'u' }] }),
      { kind: 'Status' },
      null,
    ];
    expect(finishedVmsOf('ns', items)).toEqual([]);
  });
});

/** An inventory whose answer the test sets; counts the sweeps that listed it. */
class FakeInventory implements VmInventory {
  lists = 0;
  answer: FinishedVm[] | Error = [];
  async finishedVms(): Promise<FinishedVm[]> {
    this.lists++;
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
  async deleteVm(): Promise<boolean> {
    return true;
  }
}

describe('VmReaper timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function reaperOver(inventory: VmInventory) {
    return new VmReaper({
      inventory,
      namespace: 'runners',
      logger: createLogger({ name: 'vm-scaler', level: 'silent' }),
      metrics: createScalerMetrics(createMetricsRegistry('vm-scaler')),
      intervalMs: 5_000,
      missingApiRetryMs: 60_000,
    });
  }

  it('sweeps every interval, backs off after failed sweeps, and waits a minute while KubeVirt is missing', async () => {
    vi.useFakeTimers();
    const inventory = new FakeInventory();
    const reaper = reaperOver(inventory);
    const t0 = Date.now();
    const sweptAt: number[] = [];
    const until = async (ms: number) => {
      while (Date.now() - t0 < ms) {
        const before = inventory.lists;
        await vi.advanceTimersByTimeAsync(1_000);
        if (inventory.lists > before) sweptAt.push(Date.now() - t0);
      }
    };
    reaper.start();
    await vi.advanceTimersByTimeAsync(0);
    sweptAt.push(0);
    await until(10_000); // good sweeps: 5 s, 10 s
    inventory.answer = new VmInventoryError('api', 'cannot list VirtualMachineInstances: HTTP 500');
    await until(40_000); // failed sweeps from 15 s: then 5, 10, 20 s later
    inventory.answer = new VmInventoryError(
      'api-missing',
      'the cluster does not serve VirtualMachineInstances',
    );
    await until(180_000);
    await reaper.stop();
    expect(sweptAt).toEqual([0, 5_000, 10_000, 15_000, 20_000, 30_000, 50_000, 110_000, 170_000]);
  });
});
