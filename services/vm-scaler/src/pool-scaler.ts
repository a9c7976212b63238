// Reading and setting a pool's size: the port the scaling loop acts through, and its adapter
// for KubeVirt VirtualMachinePools. The size is set through the scale subresource (what
// `kubectl scale` and an HPA use), so the scaler never rewrites the pool object just to
// change its size; it is read from the pool itself, whose status also says how many of its
// VMs are ready (the scale subresource carries only the replicas).
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { isNotFound, kubeErrorMessage } from '@longshore/kube';
import { z } from 'zod';
import { type PoolRef, poolParams } from './vm-pool.ts';

/** A pool's size as the cluster has it. */
export interface PoolSize {
  /** The desired replicas (`.spec.replicas`). */
  readonly replicas: number;
  /** VMs KubeVirt reports ready (`.status.readyReplicas`; 0 before its controller wrote a status). */
  readonly readyReplicas: number;
}

export interface PoolScaler {
  /** The pool's desired and ready replicas. Throws PoolScaleError. */
  size(pool: PoolRef): Promise<PoolSize>;
  /** Sets the pool's desired replicas. Throws PoolScaleError. */
  setReplicas(pool: PoolRef, replicas: number): Promise<void>;
}

/** `not-found`: the pool does not exist (deleted from outside); `api`: any other failure. */
export class PoolScaleError extends Error {
  override readonly name = 'PoolScaleError';
  readonly kind: 'not-found' | 'api';

  constructor(kind: 'not-found' | 'api', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** The parts of a VirtualMachinePool read here. Counts are left out when 0 (Go's omitempty). */
const PoolCounts = z.object({
  spec: z.object({ replicas: z.int().nonnegative().optional() }).optional(),
  status: z.object({ readyReplicas: z.int().nonnegative().optional() }).optional(),
});

export class KubePoolScaler implements PoolScaler {
  readonly #custom: CustomObjectsApi;

  constructor(custom: CustomObjectsApi) {
    this.#custom = custom;
  }

  async size(pool: PoolRef): Promise<PoolSize> {
    let body: unknown;
    try {
      body = await this.#custom.getNamespacedCustomObject(poolParams(pool));
    } catch (err) {
      throw this.#error('read', pool, err);
    }
    const parsed = PoolCounts.safeParse(body);
    if (!parsed.success) {
      throw new PoolScaleError('api', `${describe(pool)} has no readable replica counts`, {
        cause: parsed.error,
      });
    }
    return {
      replicas: parsed.data.spec?.replicas ?? 0,
      readyReplicas: parsed.data.status?.readyReplicas ?? 0,
    };
  }

  async setReplicas(pool: PoolRef, replicas: number): Promise<void> {
    try {
      await this.#custom.patchNamespacedCustomObjectScale({
        ...poolParams(pool),
        // JSON patch (client-node's default patch type); `add` also sets a field that is absent.
        body: [{ op: 'add', path: '/spec/replicas', value: replicas }],
      });
    } catch (err) {
      throw this.#error(`scale to ${replicas}`, pool, err);
    }
  }

  #error(action: string, pool: PoolRef, err: unknown): PoolScaleError {
    const kind = isNotFound(err) ? 'not-found' : 'api';
    return new PoolScaleError(kind, `cannot ${action} ${describe(pool)}: ${kubeErrorMessage(err)}`, {
      cause: err,
    });
  }
}

function describe(pool: PoolRef): string {
  return `VirtualMachinePool ${pool.namespace}/${pool.name}`;
}
