// The vm-scaler's metrics, registered on the registry the caller passes (one per service).
import { Counter, Gauge, type Registry } from 'prom-client';

export type ScalerErrorKind =
  | 'unclaimed-tasks'
  | 'running-tasks'
  | 'read-replicas'
  | 'scale'
  | 'apply-pool'
  | 'publish';

export interface ScalerMetrics {
  readonly polls: Counter<'resource_class' | 'outcome'>;
  readonly errors: Counter<'resource_class' | 'kind'>;
  readonly scaleRequests: Counter<'resource_class'>;
  readonly desiredVms: Gauge<'resource_class'>;
  readonly readyVms: Gauge<'resource_class'>;
  readonly unclaimedTasks: Gauge<'resource_class'>;
  readonly runningTasks: Gauge<'resource_class'>;
  readonly vmsReaped: Counter<'pool'>;
  readonly reapErrors: Counter<'namespace'>;
}

/**
 * The metrics on `registry`, created on first use: a second scaler started on the same
 * registry (a restart inside one process) shares them rather than failing to register.
 */
export function createScalerMetrics(registry: Registry): ScalerMetrics {
  const known = scalerMetricsOf.get(registry);
  if (known) return known;
  const registers = [registry];
  const metrics: ScalerMetrics = {
    polls: new Counter({
      name: 'longshore_vm_scaler_polls_total',
      help: 'Scaling cycles, by outcome (ok, or error when a count or the pool could not be read or set)',
      labelNames: ['resource_class', 'outcome'],
      registers,
    }),
    errors: new Counter({
      name: 'longshore_vm_scaler_errors_total',
      help: 'Failed steps of scaling cycles, by kind',
      labelNames: ['resource_class', 'kind'],
      registers,
    }),
    scaleRequests: new Counter({
      name: 'longshore_vm_scaler_scale_requests_total',
      help: "Requests to change a VirtualMachinePool's replicas (sent only when the desired count changed)",
      labelNames: ['resource_class'],
      registers,
    }),
    desiredVms: new Gauge({
      name: 'longshore_vm_scaler_desired_vms',
      help: 'Replicas last decided for the class: unclaimed + running tasks, clamped to [minReplicas, maxReplicas]',
      labelNames: ['resource_class'],
      registers,
    }),
    readyVms: new Gauge({
      name: 'longshore_vm_scaler_ready_vms',
      help: "VMs of the class's pool that KubeVirt reports ready (the pool's status.readyReplicas), read each cycle; compare with desired_vms",
      labelNames: ['resource_class'],
      registers,
    }),
    unclaimedTasks: new Gauge({
      name: 'longshore_vm_scaler_unclaimed_tasks',
      help: 'Unclaimed tasks of the class at the last successful poll',
      labelNames: ['resource_class'],
      registers,
    }),
    runningTasks: new Gauge({
      name: 'longshore_vm_scaler_running_tasks',
      help: 'Running tasks of the class at the last successful poll',
      labelNames: ['resource_class'],
      registers,
    }),
    vmsReaped: new Counter({
      name: 'longshore_vm_scaler_vms_reaped_total',
      help: 'VMs deleted after their single run ended, so the pool can replace them',
      labelNames: ['pool'],
      registers,
    }),
    reapErrors: new Counter({
      name: 'longshore_vm_scaler_reap_errors_total',
      help: 'Sweeps for finished VMs that failed',
      labelNames: ['namespace'],
      registers,
    }),
  };
  scalerMetricsOf.set(registry, metrics);
  return metrics;
}

const scalerMetricsOf = new WeakMap<Registry, ScalerMetrics>();
