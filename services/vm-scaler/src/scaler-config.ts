// What the vm-scaler will do, worked out from the configuration before anything is
// touched: the target namespace, the Runner API, and per class its bounds, runner token,
// pool and Secret names and a VM spec we can append our cloud-init to. Every problem
// becomes one ConfigError naming the key, so a bad config stops the service at start.
import {
  ConfigError,
  type ConfigIssue,
  type LongshoreConfig,
  type ProvisionerClass,
  type ProvisionerSecret,
  provisionerClasses,
} from '@longshore/config';
import { buildVmPool, type PoolTarget, poolTargetFor, VmSpecError } from './vm-pool.ts';

/** A class with everything needed to run it. */
export interface PlannedClass extends Omit<ProvisionerClass, 'token'> {
  readonly token: string;
  readonly target: PoolTarget;
}

export interface VmScalerPlan {
  /** Where the pools, Secrets and VMs live. */
  readonly namespace: string;
  /** Runner API base URL, for the task counts and for the runners in the VMs. */
  readonly apiUrl: string;
  /** CircleCI API token for the task counts. */
  readonly circleToken: string;
  readonly pollIntervalMs: number;
  readonly classes: readonly PlannedClass[];
}

export interface PlanOptions {
  /** The parsed Secret named by provisioner.existingSecret (required when that is set). */
  readonly secret?: ProvisionerSecret;
  /** The namespace when neither provisioner.namespace nor kube.namespace is set. */
  readonly fallbackNamespace: string;
  /** Named in errors: the config file path. */
  readonly source?: string;
}

const DEFAULT_SOURCE = '<configuration>';

/** provisioner.namespace, else kube.namespace, else the fallback (the kube context's). */
export function targetNamespace(cfg: LongshoreConfig, fallback: string): string {
  return cfg.provisioner?.namespace ?? cfg.kube.namespace ?? fallback;
}

/** The provisioner block, or a ConfigError saying the vm-scaler needs one. */
export function provisionerOf(cfg: LongshoreConfig, source = DEFAULT_SOURCE) {
  if (cfg.provisioner) return cfg.provisioner;
  throw new ConfigError(source, [
    {
      path: 'provisioner',
      message:
        'required: the vm-scaler provisions VMs for provisioner.resourceClass (seed 002) or provisioner.resourceClasses',
    },
  ]);
}

export function planVmScaler(cfg: LongshoreConfig, opts: PlanOptions): VmScalerPlan {
  const source = opts.source ?? DEFAULT_SOURCE;
  const p = provisionerOf(cfg, source);
  if (p.existingSecret !== undefined && opts.secret === undefined) {
    throw new TypeError(
      `planVmScaler: read Secret ${p.existingSecret} first (provisioner.existingSecret is set)`,
    );
  }
  const namespace = targetNamespace(cfg, opts.fallbackNamespace);
  const classes = provisionerClasses(cfg, opts.secret);
  const circleToken = opts.secret?.circleToken ?? p.circleToken;
  // With an existing Secret the classes come from its config.yaml, so their problems are reported there.
  const classSource = p.existingSecret === undefined ? source : `secret ${p.existingSecret} key config.yaml`;
  const issues: ConfigIssue[] = [];
  const planned: PlannedClass[] = [];
  const poolOwners = new Map<string, string>();
  for (const [i, c] of classes.entries()) {
    const path = pathOf(cfg, c.name, i);
    const target = poolTargetFor(c.name, namespace);
    const clash = poolOwners.get(target.name);
    if (clash !== undefined) {
      issues.push({ path: `${path}.name`, message: `gives the same pool name (${target.name}) as ${clash}` });
    }
    poolOwners.set(target.name, c.name);
    if (c.token === undefined) {
      issues.push({ path: `${path}.token`, message: 'required' });
      continue;
    }
    try {
      buildVmPool(c, target, { replicas: c.minReplicas });
    } catch (err) {
      if (!(err instanceof VmSpecError)) throw err;
      issues.push({
        path: err.path === '' ? `${path}.spec` : `${path}.spec.${err.path}`,
        message: err.reason,
      });
      continue;
    }
    planned.push({ ...c, token: c.token, target });
  }
  if (issues.length > 0) throw new ConfigError(classSource, issues);
  if (circleToken === undefined) {
    // The schema requires it without an existing Secret, and parseProvisionerSecret with one.
    throw new ConfigError(source, [{ path: 'provisioner.circleToken', message: 'required' }]);
  }
  return {
    namespace,
    apiUrl: p.circleciAPIAddr,
    circleToken,
    pollIntervalMs: p.pollInterval,
    classes: planned,
  };
}

/** Where a class is configured: in the existing Secret by name, else in either form of the values. */
function pathOf(cfg: LongshoreConfig, name: string, index: number): string {
  const p = cfg.provisioner;
  if (p?.existingSecret !== undefined) return `resourceClass[${JSON.stringify(name)}]`;
  if (p?.resourceClass?.name === name) return 'provisioner.resourceClass';
  const i = p?.resourceClasses.findIndex((c) => c.name === name) ?? -1;
  return `provisioner.resourceClasses[${i >= 0 ? i : index}]`;
}
