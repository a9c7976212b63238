// Creating or updating a class's VirtualMachinePool and cloud-init Secret, at start (and
// when the pool was deleted from outside). Updates change the VM template and the user
// data, never the pool's size (the scaling loop owns that) and never any VM: with the
// pool's opportunistic update strategy, a new template only reaches VMs created after it.
import { isDeepStrictEqual } from 'node:util';
import type { CoreV1Api, CustomObjectsApi, V1Secret } from '@kubernetes/client-node';
import { Labels, MANAGED_BY } from '@longshore/contracts';
import { isConflict, isNotFound, kubeErrorMessage } from '@longshore/kube';
import { POOL_API, poolParams, type VmPoolObject } from './vm-pool.ts';

export type Applied = 'created' | 'updated' | 'unchanged';

export interface PoolApplier {
  /** Creates or updates the Secret with the VMs' cloud-init user data. */
  applySecret(secret: V1Secret): Promise<Applied>;
  /** Creates the pool, or updates everything in it but `.spec.replicas`. */
  applyPool(pool: VmPoolObject): Promise<Applied>;
}

/** A pool as read back: only what we look at is typed. */
interface StoredPool {
  metadata: { labels?: Record<string, string> } & Record<string, unknown>;
  spec?: Record<string, unknown>;
}

/** A pool or Secret could not be applied. `ownership`: an object of that name exists and is not ours. */
export class PoolApplyError extends Error {
  override readonly name = 'PoolApplyError';
  readonly kind: 'ownership' | 'api';

  constructor(kind: 'ownership' | 'api', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** Pool spec fields we own; any others someone set (e.g. `paused`) are kept. */
const OWNED_SPEC_FIELDS = [
  'selector',
  'scaleInStrategy',
  'updateStrategy',
  'virtualMachineTemplate',
] as const;
const CONFLICT_RETRIES = 3;

export class KubePoolApplier implements PoolApplier {
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;

  constructor(clients: { core: CoreV1Api; custom: CustomObjectsApi }) {
    this.#core = clients.core;
    this.#custom = clients.custom;
  }

  async applySecret(secret: V1Secret): Promise<Applied> {
    const name = secret.metadata?.name ?? '';
    const namespace = secret.metadata?.namespace ?? '';
    const what = `Secret ${namespace}/${name}`;
    return this.#withRetries(what, async () => {
      const existing = await this.#core.readNamespacedSecret({ name, namespace }).catch(absentAsUndefined);
      if (existing === undefined) {
        await this.#core.createNamespacedSecret({ namespace, body: secret });
        return 'created';
      }
      assertOurs(what, existing.metadata?.labels);
      if (
        isDeepStrictEqual(existing.data, secret.data) &&
        hasLabels(existing.metadata?.labels, secret.metadata?.labels)
      ) {
        return 'unchanged';
      }
      const body: V1Secret = {
        ...existing,
        metadata: {
          ...existing.metadata,
          labels: { ...existing.metadata?.labels, ...secret.metadata?.labels },
        },
        type: secret.type ?? existing.type,
        data: secret.data ?? {},
      };
      await this.#core.replaceNamespacedSecret({ name, namespace, body });
      return 'updated';
    });
  }

  async applyPool(pool: VmPoolObject): Promise<Applied> {
    const ref = { namespace: pool.metadata.namespace, name: pool.metadata.name };
    const what = `${POOL_API.kind} ${ref.namespace}/${ref.name}`;
    return this.#withRetries(what, async () => {
      const existing = (await this.#custom
        .getNamespacedCustomObject(poolParams(ref))
        .catch(absentAsUndefined)) as StoredPool | undefined;
      if (existing === undefined) {
        const { group, version, plural } = POOL_API;
        await this.#custom.createNamespacedCustomObject({
          group,
          version,
          plural,
          namespace: ref.namespace,
          body: pool,
        });
        return 'created';
      }
      assertOurs(what, existing.metadata.labels);
      const spec = { ...existing.spec };
      for (const f of OWNED_SPEC_FIELDS) spec[f] = pool.spec[f];
      const labels = { ...existing.metadata.labels, ...pool.metadata.labels };
      if (isDeepStrictEqual(spec, existing.spec) && isDeepStrictEqual(labels, existing.metadata.labels)) {
        return 'unchanged';
      }
      // Replace with the read resourceVersion: a concurrent change (the scale subresource
      // included) makes this a Conflict, and we read again rather than undo it.
      const body = { ...existing, metadata: { ...existing.metadata, labels }, spec };
      await this.#custom.replaceNamespacedCustomObject({ ...poolParams(ref), body });
      return 'updated';
    });
  }

  async #withRetries(what: string, attempt: () => Promise<Applied>): Promise<Applied> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof PoolApplyError) throw err;
        if (isConflict(err) && i < CONFLICT_RETRIES) continue;
        const message = kubeErrorMessage(err);
        // What the apiserver says when no CRD serves the kind (a missing namespace reads differently).
        const hint = /could not find the requested resource|404 page not found/i.test(message)
          ? ` (${POOL_API.group}/${POOL_API.version} is not served: is KubeVirt 1.7 or later installed?)`
          : '';
        throw new PoolApplyError('api', `cannot apply ${what}: ${message}${hint}`, { cause: err });
      }
    }
  }
}

function absentAsUndefined(err: unknown): undefined {
  if (isNotFound(err)) return undefined;
  throw err;
}

function assertOurs(what: string, labels: Record<string, string> | undefined): void {
  if (labels?.[Labels.managedBy] !== MANAGED_BY) {
    throw new PoolApplyError(
      'ownership',
      `${what} exists but is not managed by Longshore (label ${Labels.managedBy}=${MANAGED_BY} missing): ` +
        'refusing to take it over; delete it or use another namespace',
    );
  }
}

function hasLabels(
  have: Record<string, string> | undefined,
  want: Record<string, string> | undefined,
): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
}
