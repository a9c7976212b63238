// The Kubernetes objects of one provisioner resource class, built by pure functions: the
// KubeVirt VirtualMachinePool (the user's VirtualMachineInstance spec plus our cloud-init
// disk and volume) and the Secret holding the cloud-init user data (which carries the
// runner token, and is too large for KubeVirt's 2048-byte inline limit anyway).
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { Labels, MANAGED_BY, resourceClassLabel } from '@longshore/contracts';

/** KubeVirt's pool API. v1beta1 (KubeVirt 1.7+) has the scale-in and update strategies we rely on. */
export const POOL_API = {
  group: 'pool.kubevirt.io',
  version: 'v1beta1',
  plural: 'virtualmachinepools',
  kind: 'VirtualMachinePool',
} as const;

/** Name of the disk and volume we append; the user's spec must not use it. */
export const CLOUD_INIT_VOLUME = 'longshore-cloudinit';
/** The Secret key KubeVirt reads cloud-init user data from. */
export const USER_DATA_KEY = 'userdata';

export const PoolLabels = {
  /** On the pool, its VMs and their VMIs: which pool they belong to. */
  pool: 'longshore.io/vm-pool',
} as const;
/** Annotation with the resource class name as written (label values cannot hold a '/'). */
export const RESOURCE_CLASS_ANNOTATION = 'longshore.io/resource-class';

/** Where one class's objects live. */
export interface PoolRef {
  readonly namespace: string;
  readonly name: string;
}

/** The CustomObjectsApi parameters that address a pool. */
export function poolParams(pool: PoolRef) {
  const { group, version, plural } = POOL_API;
  return { group, version, plural, namespace: pool.namespace, name: pool.name };
}

/** A pool and the Secret its VMs boot from. */
export interface PoolTarget extends PoolRef {
  readonly secretName: string;
}

/**
 * The pool name for a resource class: DNS-safe, short enough that KubeVirt's VM names
 * (`<pool>-<index>`) stay valid host names, and distinct for classes that differ only in
 * characters a name cannot hold (hence the hash).
 */
export function poolNameFor(resourceClass: string): string {
  const readable = resourceClass
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(resourceClass).digest('hex').slice(0, 6);
  return readable === '' ? `vmpool-${hash}` : `${readable}-${hash}`;
}

export function poolTargetFor(resourceClass: string, namespace: string): PoolTarget {
  const name = poolNameFor(resourceClass);
  return { namespace, name, secretName: `${name}-cloud-init` };
}

/** The user's VM spec cannot be used as given. `path` is inside the spec, e.g. `volumes[1]`. */
export class VmSpecError extends Error {
  override readonly name = 'VmSpecError';
  readonly path: string;
  /** The problem, without the path. */
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(path === '' ? reason : `${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

export interface PoolClass {
  readonly name: string;
  /** KubeVirt VirtualMachineInstanceSpec, as configured. */
  readonly spec: Record<string, unknown>;
}

/** A VirtualMachinePool as we write it. */
export interface VmPoolObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

/** Labels of everything we create for a class. */
export function poolLabels(resourceClass: string, pool: string): Record<string, string> {
  const rc = resourceClassLabel(resourceClass);
  return {
    [Labels.managedBy]: MANAGED_BY,
    [PoolLabels.pool]: pool,
    // Label values are at most 63 characters; the annotation always has the full name.
    ...(isLabelValue(rc) ? { [Labels.resourceClass]: rc } : {}),
  };
}

/**
 * The VirtualMachinePool for a class. VMs run once (`runStrategy: Once`): the runner in
 * each does one job, then the VM powers off and the vm-scaler removes it, so the pool
 * creates a fresh one. Scale-in and updates are opportunistic, so KubeVirt never stops a
 * VM for us: surplus VMs leave after their job (or idleTimeout), and a new template
 * reaches only VMs created after it.
 */
export function buildVmPool(
  cls: PoolClass,
  target: PoolTarget,
  opts: { readonly replicas: number },
): VmPoolObject {
  const labels = poolLabels(cls.name, target.name);
  const annotations = { [RESOURCE_CLASS_ANNOTATION]: cls.name };
  return {
    apiVersion: `${POOL_API.group}/${POOL_API.version}`,
    kind: POOL_API.kind,
    metadata: { name: target.name, namespace: target.namespace, labels, annotations },
    spec: {
      replicas: opts.replicas,
      selector: { matchLabels: { [PoolLabels.pool]: target.name } },
      scaleInStrategy: { opportunistic: {} },
      updateStrategy: { opportunistic: {} },
      virtualMachineTemplate: {
        metadata: { labels, annotations },
        spec: {
          runStrategy: 'Once',
          template: {
            metadata: { labels, annotations },
            spec: withCloudInit(cls.spec, target.secretName),
          },
        },
      },
    },
  };
}

/** The Secret with the cloud-init user data for a class's VMs. */
export function buildCloudInitSecret(
  cls: { readonly name: string },
  target: PoolTarget,
  userData: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: target.secretName,
      namespace: target.namespace,
      labels: poolLabels(cls.name, target.name),
      annotations: { [RESOURCE_CLASS_ANNOTATION]: cls.name },
    },
    type: 'Opaque',
    data: { [USER_DATA_KEY]: Buffer.from(userData, 'utf8').toString('base64') },
  };
}

/**
 * The user's VMI spec with our cloud-init disk and volume appended. Throws VmSpecError when
 * the spec is not a usable shape or already has a cloud-init volume (seed 002: the
 * provisioner appends one; the user must not add their own).
 */
export function withCloudInit(spec: Record<string, unknown>, secretName: string): Record<string, unknown> {
  const copy = structuredClone(spec);
  const domain = objectAt(copy, 'domain', 'domain');
  const devices = objectAt(domain, 'devices', 'domain.devices');
  const disks = listAt(devices, 'disks', 'domain.devices.disks');
  const volumes = listAt(copy, 'volumes', 'volumes');
  volumes.forEach((v, i) => {
    for (const key of ['cloudInitNoCloud', 'cloudInitConfigDrive']) {
      if (key in v) {
        throw new VmSpecError(
          `volumes[${i}]`,
          `has ${key}: remove it, the provisioner appends its own cloud-init volume to every VM`,
        );
      }
    }
    if (v.name === CLOUD_INIT_VOLUME) {
      throw new VmSpecError(
        `volumes[${i}].name`,
        `"${CLOUD_INIT_VOLUME}" is reserved for the provisioner's cloud-init volume`,
      );
    }
  });
  disks.forEach((d, i) => {
    if (d.name === CLOUD_INIT_VOLUME) {
      throw new VmSpecError(
        `domain.devices.disks[${i}].name`,
        `"${CLOUD_INIT_VOLUME}" is reserved for the provisioner's cloud-init disk`,
      );
    }
  });
  disks.push({ name: CLOUD_INIT_VOLUME, disk: { bus: 'virtio' } });
  volumes.push({ name: CLOUD_INIT_VOLUME, cloudInitNoCloud: { secretRef: { name: secretName } } });
  return copy;
}

function objectAt(parent: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const v = parent[key] ?? {};
  if (!isRecord(v)) throw new VmSpecError(path, 'must be a mapping');
  parent[key] = v;
  return v;
}

function listAt(parent: Record<string, unknown>, key: string, path: string): Record<string, unknown>[] {
  const v = parent[key] ?? [];
  if (!Array.isArray(v)) throw new VmSpecError(path, 'must be a list');
  v.forEach((item, i) => {
    if (!isRecord(item)) throw new VmSpecError(`${path}[${i}]`, 'must be a mapping');
  });
  parent[key] = v;
  return v as Record<string, unknown>[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isLabelValue(v: string): boolean {
  return /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/.test(v);
}
