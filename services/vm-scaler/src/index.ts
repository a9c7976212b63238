// Public surface of @longshore/vm-scaler: start it in-process (the main job) or read its
// pure parts (the decision, the pool and cloud-init builders) for tools and tests.
export {
  CloudInitTemplateError,
  RUNNER_INIT_TEMPLATE_PATH,
  type RunnerInitSettings,
  readRunnerInitTemplate,
  renderRunnerInit,
} from './cloud-init.ts';
export { type DemandAndBounds, desiredReplicas } from './desired-replicas.ts';
export { createScalerMetrics, type ScalerErrorKind, type ScalerMetrics } from './metrics.ts';
export { type Applied, KubePoolApplier, type PoolApplier, PoolApplyError } from './pool-applier.ts';
export { KubePoolScaler, PoolScaleError, type PoolScaler, type PoolSize } from './pool-scaler.ts';
export {
  HttpRunnerQueue,
  type HttpRunnerQueueOptions,
  type RunnerQueue,
  RunnerQueueError,
  type RunnerQueueErrorKind,
} from './runner-queue.ts';
export {
  type PlannedClass,
  type PlanOptions,
  planVmScaler,
  targetNamespace,
  type VmScalerPlan,
} from './scaler-config.ts';
export {
  CYCLE_MESSAGE,
  type CycleResult,
  type LoopHealth,
  RUNNING_FAILED,
  type ScalerClass,
  ScalerLoop,
  type ScalerLoopOptions,
  UNCLAIMED_FAILED,
} from './scaler-loop.ts';
export {
  buildCloudInitSecret,
  buildVmPool,
  CLOUD_INIT_VOLUME,
  POOL_API,
  PoolLabels,
  type PoolRef,
  type PoolTarget,
  poolNameFor,
  poolTargetFor,
  USER_DATA_KEY,
  type VmPoolObject,
  VmSpecError,
  withCloudInit,
} from './vm-pool.ts';
export {
  type FinishedVm,
  finishedVmsOf,
  KubeVmInventory,
  type VmInventory,
  VmInventoryError,
  VmReaper,
} from './vm-reaper.ts';
export {
  type ScaledPool,
  startVmScaler,
  type VmScaler,
  type VmScalerDeps,
  VmScalerStartError,
} from './vm-scaler.ts';
