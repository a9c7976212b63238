// The sweep for finished VMs against the apiserver, with KubeVirt's VM kinds installed: a
// VM whose instance ended is deleted (so the pool can replace it), a running one is not.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { createLogger } from '@longshore/logging';
import { createMetricsRegistry } from '@longshore/runtime';
import { vmWithInstance as createVmWithInstance, tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createScalerMetrics, KubeVmInventory, VmReaper } from '../src/index.ts';

const kube = testKube();
const custom = kube.kc.makeApiClient(CustomObjectsApi);
const KUBEVIRT = { group: 'kubevirt.io', version: 'v1' } as const;
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const labels = { 'app.kubernetes.io/managed-by': 'longshore', 'longshore.io/vm-pool': 'pool-a' };

/** A pool VM and its instance in the given phase, as KubeVirt would have made them. */
const vmWithInstance = (namespace: string, name: string, phase: string): Promise<string> =>
  createVmWithInstance(custom, namespace, name, labels, phase);

async function vmNames(namespace: string): Promise<string[]> {
  const list = (await custom.listNamespacedCustomObject({
    ...KUBEVIRT,
    plural: 'virtualmachines',
    namespace,
  })) as {
    items: { metadata: { name: string; deletionTimestamp?: string } }[];
  };
  return list.items
    .filter((i) => !i.metadata.deletionTimestamp)
    .map((i) => i.metadata.name)
    .sort();
}

describe('VmReaper', () => {
  it('deletes the VMs whose instance ended and leaves running ones alone', async () => {
    const ns = await tempNamespace(kube.core, 'vms-reap');
    cleanups.push(async () => {
      for (const plural of ['virtualmachineinstances', 'virtualmachines']) {
        await custom.deleteCollectionNamespacedCustomObject({ ...KUBEVIRT, plural, namespace: ns.name });
      }
      await ns.cleanup();
    });
    await vmWithInstance(ns.name, 'pool-a-0', 'Running');
    await vmWithInstance(ns.name, 'pool-a-1', 'Succeeded');
    await vmWithInstance(ns.name, 'pool-a-2', 'Failed');
    await vmWithInstance(ns.name, 'pool-a-3', 'Scheduling');

    const registry = createMetricsRegistry('vm-scaler');
    const reaper = new VmReaper({
      inventory: new KubeVmInventory(custom),
      namespace: ns.name,
      logger: createLogger({ name: 'vm-scaler', level: 'silent' }),
      metrics: createScalerMetrics(registry),
      intervalMs: 100,
    });
    const deleted = await reaper.sweep();
    expect(deleted.map((v) => [v.name, v.phase]).sort()).toEqual([
      ['pool-a-1', 'Succeeded'],
      ['pool-a-2', 'Failed'],
    ]);
    expect(await vmNames(ns.name)).toEqual(['pool-a-0', 'pool-a-3']);
    expect(await registry.getSingleMetricAsString('longshore_vm_scaler_vms_reaped_total')).toContain(
      'longshore_vm_scaler_vms_reaped_total{pool="pool-a",service="vm-scaler"} 2',
    );

    // The test bed has no garbage collector, so the ended instances remain; a later sweep
    // must not count their (already deleted) VMs again.
    expect(await reaper.sweep()).toEqual([]);
  });

  it('does not delete a VM recreated under the name of a finished one', async () => {
    const ns = await tempNamespace(kube.core, 'vms-reap-uid');
    cleanups.push(async () => {
      for (const plural of ['virtualmachineinstances', 'virtualmachines']) {
        await custom.deleteCollectionNamespacedCustomObject({ ...KUBEVIRT, plural, namespace: ns.name });
      }
      await ns.cleanup();
    });
    await vmWithInstance(ns.name, 'pool-a-0', 'Succeeded');
    const inventory = new KubeVmInventory(custom);
    const [finished] = await inventory.finishedVms(ns.name);
    await custom.deleteNamespacedCustomObject({
      ...KUBEVIRT,
      plural: 'virtualmachines',
      namespace: ns.name,
      name: 'pool-a-0',
    });
    await custom.createNamespacedCustomObject({
      ...KUBEVIRT,
      plural: 'virtualmachines',
      namespace: ns.name,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name: 'pool-a-0', labels },
        spec: {},
      },
    });
    expect(finished).toBeDefined();
    if (finished) expect(await inventory.deleteVm(finished)).toBe(false);
    expect(await vmNames(ns.name)).toEqual(['pool-a-0']);
  });
});
