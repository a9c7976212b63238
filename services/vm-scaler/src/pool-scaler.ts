// Reading and setting a pool's size: the port the scaling loop acts through, and its adapter
// for KubeVirt VirtualMachinePools' scale subresource (what `kubectl scale` and an HPA use),
// so the scaler never rewrites the pool object just to change its size.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { isNotFound, kubeErrorMessage } from '@longshore/kube';
import { z } from 'zod';
import { type PoolRef, poolParams } from './vm-pool.ts';

export interface PoolScaler {
  /** The pool's desired replicas (`.spec.replicas`). Throws PoolScaleError. */
  replicas(pool: PoolRef): Promise<number>;
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

/** autoscaling/v1 Scale. `spec.replicas` is left out when 0 (Go's omitempty). */
const Scale = z.object({
  spec: z.object({ replicas: z.int().nonnegative().optional() }).optional(),
});

export class KubePoolScaler implements PoolScaler {
  readonly #custom: CustomObjectsApi;

  constructor(custom: CustomObjectsApi) {
    this.#custom = custom;
  }

  async replicas(pool: PoolRef): Promise<number> {
    let body: unknown;
    try {
      body = await this.#custom.getNamespacedCustomObjectScale(poolParams(pool));
    } catch (err) {
      throw this.#error('read the scale of', pool, err);
    }
    const parsed = Scale.safeParse(body);
    if (!parsed.success) {
      throw new PoolScaleError('api', `the scale of ${describe(pool)} is not an autoscaling/v1 Scale`, {
        cause: parsed.error,
      });
    }
    return parsed.data.spec?.replicas ?? 0;
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
