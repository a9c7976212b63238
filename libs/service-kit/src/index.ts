// Public surface of @longshore/service-kit: what every service process needs around its
// work: health and metrics endpoints, a metrics registry, and one shutdown routine.
export { type HealthServer, type HealthServerOptions, startHealthServer } from './health.ts';
export type { KitLogger } from './logger.ts';
export { createMetricsRegistry } from './metrics.ts';
export {
  type Closer,
  createShutdown,
  type Shutdown,
  type ShutdownOptions,
  type ShutdownResult,
} from './shutdown.ts';
