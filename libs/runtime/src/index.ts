// Public surface of @longshore/runtime: what every service process needs around its work.
// The start-up every service shares (bootService), the health and metrics endpoints, the
// metrics registry and the one shutdown routine it sets up, waiting out the dependencies
// that are down, work repeated on a timer (every), the claim ledger as the services open
// it, and the metrics of every outside call (red-metrics.ts). Helpers for the Kubernetes
// apiserver (riding out its outages, the namespace a service works in, reading a Secret)
// are the separate entry `@longshore/runtime/kube`, so that importing this one does not
// load client-node.
export { type BootOptions, bootService, type Service } from './boot.ts';
export { type HealthServer, type HealthServerOptions, startHealthServer } from './health.ts';
export { claimLedger, type LedgerMetricsTarget } from './ledger.ts';
export type { KitLogger } from './logger.ts';
export {
  createMetricsRegistry,
  stageSeconds,
  TASK_STAGE_BUCKETS,
  type TaskStage,
  type TaskStageRecorder,
  taskStageHistogram,
} from './metrics.ts';
export {
  type EveryOptions,
  every,
  intervalBackoff,
  nextRunDelay,
  type Periodic,
  type RunOutcome,
} from './periodic.ts';
export {
  busMetrics,
  kubeMetrics,
  measuredLedger,
  metricPrefix,
  RED_BUCKETS,
  runnerApiMetrics,
} from './red-metrics.ts';
export {
  type Backoff,
  backoffDelay,
  innermostMessage,
  type RetryOptions,
  redactUrl,
  retryUntilAvailable,
  START_BACKOFF,
  type WaitLogger,
} from './retry.ts';
export {
  type Closer,
  createShutdown,
  type Shutdown,
  type ShutdownOptions,
  type ShutdownResult,
} from './shutdown.ts';
