// Removes the VMs of our pools whose one run is over. Pool VMs run once (runStrategy
// Once): after its job, or after idleTimeout, a VM powers off and its VirtualMachineInstance
// ends (Succeeded or Failed), but the VirtualMachine object stays and still counts as a
// pool replica. Deleting it lets the pool, which scales in opportunistically, replace it
// when demand still needs a VM and drop it when not. A VM whose instance is still running
// is never touched: this is how scale-in waits for busy VMs.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { Labels, MANAGED_BY } from '@longshore/contracts';
import { isNotFound, kubeErrorMessage } from '@longshore/kube';
import type { Logger } from '@longshore/logging';
import { every, type Periodic, type RunOutcome } from '@longshore/runtime';
import { z } from 'zod';
import { errFields } from './log-fields.ts';
import type { ScalerMetrics } from './metrics.ts';
import { PoolLabels } from './vm-pool.ts';

/** A VirtualMachine to delete, and why. */
export interface FinishedVm {
  readonly namespace: string;
  readonly name: string;
  /** Delete only this incarnation: a VM recreated under the same name is not finished. */
  readonly uid: string;
  readonly pool: string;
  /** The phase its instance ended in. */
  readonly phase: 'Succeeded' | 'Failed';
}

/** VMs of our pools and what can be done with them. */
export interface VmInventory {
  /** VMs of Longshore pools in a namespace whose instance has ended. */
  finishedVms(namespace: string): Promise<FinishedVm[]>;
  /** Deletes a VM; false if it was already gone (or replaced). */
  deleteVm(vm: FinishedVm): Promise<boolean>;
}

/** `api-missing`: the cluster does not serve KubeVirt's VirtualMachineInstance API. */
export class VmInventoryError extends Error {
  override readonly name = 'VmInventoryError';
  readonly kind: 'api-missing' | 'api';

  constructor(kind: 'api-missing' | 'api', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

const KUBEVIRT = { group: 'kubevirt.io', version: 'v1' } as const;

const Vmi = z.object({
  metadata: z.object({
    name: z.string(),
    deletionTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    ownerReferences: z
      .array(
        z.object({ kind: z.string(), name: z.string(), uid: z.string(), controller: z.boolean().optional() }),
      )
      .optional(),
  }),
  status: z.object({ phase: z.string().optional() }).optional(),
});
const VmiList = z.object({ items: z.array(z.unknown()) });

/**
 * The VMs to delete, from a list of VirtualMachineInstances: those that ended and are not
 * already being deleted, by their controlling VirtualMachine. Entries that are not VMIs of
 * ours (no pool label, no VM owner) are skipped.
 */
export function finishedVmsOf(namespace: string, vmis: readonly unknown[]): FinishedVm[] {
  const out: FinishedVm[] = [];
  for (const item of vmis) {
    const parsed = Vmi.safeParse(item);
    if (!parsed.success) continue;
    const { metadata, status } = parsed.data;
    const phase = status?.phase;
    const pool = metadata.labels?.[PoolLabels.pool];
    if ((phase !== 'Succeeded' && phase !== 'Failed') || metadata.deletionTimestamp || !pool) continue;
    const owner = metadata.ownerReferences?.find((o) => o.kind === 'VirtualMachine' && o.controller);
    if (!owner) continue;
    out.push({ namespace, name: owner.name, uid: owner.uid, pool, phase });
  }
  return out;
}

export class KubeVmInventory implements VmInventory {
  readonly #custom: CustomObjectsApi;

  constructor(custom: CustomObjectsApi) {
    this.#custom = custom;
  }

  async finishedVms(namespace: string): Promise<FinishedVm[]> {
    let body: unknown;
    try {
      body = await this.#custom.listNamespacedCustomObject({
        ...KUBEVIRT,
        plural: 'virtualmachineinstances',
        namespace,
        labelSelector: `${Labels.managedBy}=${MANAGED_BY},${PoolLabels.pool}`,
      });
    } catch (err) {
      if (isNotFound(err)) {
        throw new VmInventoryError(
          'api-missing',
          'the cluster does not serve kubevirt.io/v1 VirtualMachineInstances: is KubeVirt installed?',
          { cause: err },
        );
      }
      throw new VmInventoryError(
        'api',
        `cannot list VirtualMachineInstances in ${namespace}: ${kubeErrorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    const list = VmiList.safeParse(body);
    if (!list.success) {
      throw new VmInventoryError('api', `the VirtualMachineInstance list of ${namespace} is malformed`, {
        cause: list.error,
      });
    }
    return finishedVmsOf(namespace, list.data.items);
  }

  async deleteVm(vm: FinishedVm): Promise<boolean> {
    try {
      await this.#custom.deleteNamespacedCustomObject({
        ...KUBEVIRT,
        plural: 'virtualmachines',
        namespace: vm.namespace,
        name: vm.name,
        propagationPolicy: 'Background',
        body: { preconditions: { uid: vm.uid } },
      });
      return true;
    } catch (err) {
      // 404: already gone; 409: the name now belongs to a new VM (the uid precondition).
      if (isNotFound(err) || (err as { code?: unknown }).code === 409) return false;
      throw new VmInventoryError(
        'api',
        `cannot delete VirtualMachine ${vm.namespace}/${vm.name}: ${kubeErrorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }
}

export interface VmReaperOptions {
  readonly inventory: VmInventory;
  readonly namespace: string;
  readonly logger: Logger;
  readonly metrics: ScalerMetrics;
  /** Pause between sweeps; after failed ones the pause doubles from it, up to 30 s (or the interval). */
  readonly intervalMs: number;
  /** Pause after finding that KubeVirt's API is not served. Default 1 minute. */
  readonly missingApiRetryMs?: number;
}

/** Sweeps one namespace for finished pool VMs, on its own timer. */
export class VmReaper {
  readonly #o: VmReaperOptions;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #loop: Periodic | undefined;
  #apiMissingLogged = false;

  constructor(options: VmReaperOptions) {
    this.#o = options;
    this.#log = options.logger.child({ loop_name: 'vm-reaper', namespace: options.namespace });
  }

  start(): void {
    if (this.#stop.signal.aborted || this.#loop) return;
    this.#loop = every(this.#o.intervalMs, () => this.#tick(), {
      // #tick says why a sweep failed itself; what reaches here is a bug in it.
      onError: (err) => this.#log.error({ err }, 'VM sweep failed unexpectedly'),
    });
  }

  /** Stops sweeping; waits for a sweep in progress. Idempotent. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop?.stop();
  }

  /** One sweep; returns the VMs it deleted. */
  async sweep(): Promise<FinishedVm[]> {
    const finished = await this.#o.inventory.finishedVms(this.#o.namespace);
    const deleted: FinishedVm[] = [];
    for (const vm of finished) {
      if (this.#stop.signal.aborted) break;
      if (await this.#o.inventory.deleteVm(vm)) {
        deleted.push(vm);
        this.#o.metrics.vmsReaped.inc({ pool: vm.pool });
        this.#log.info(
          { vm: vm.name, pool: vm.pool, phase: vm.phase },
          'deleted a finished VM so the pool can replace it',
        );
      }
    }
    return deleted;
  }

  async #tick(): Promise<RunOutcome | undefined> {
    try {
      await this.sweep();
      this.#apiMissingLogged = false;
      return undefined;
    } catch (err) {
      this.#o.metrics.reapErrors.inc({ namespace: this.#o.namespace });
      if (err instanceof VmInventoryError && err.kind === 'api-missing') {
        if (!this.#apiMissingLogged)
          this.#log.warn(errFields(err), `finished VMs are not removed: ${err.message}`);
        this.#apiMissingLogged = true;
        return { failed: true, waitAtLeastMs: this.#o.missingApiRetryMs ?? 60_000 };
      }
      this.#log.error(errFields(err), 'failed to remove finished VMs');
      return { failed: true };
    }
  }
}
