// Public surface of @longshore/gc: the sweep, its plan and its settings (tests and tools).
export { SweepLease } from './lease.ts';
export {
  type Deletion,
  isManaged,
  type ObjectInfo,
  planSweep,
  type SweepInput,
  type SweepPlan,
} from './plan.ts';
export { RateLimiter } from './rate-limiter.ts';
export { gcSettings } from './settings.ts';
export { type GcDeps, type GcHandle, type GcSettings, GcSweeper, SweepStopped, startGc } from './sweeper.ts';
