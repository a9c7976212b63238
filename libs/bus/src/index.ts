// Public surface of @longshore/bus: the only way services talk to NATS.
export type { Bus, BusOptions, CloseOptions, PublishOptions, PublishResult } from './bus.ts';
export { connectBus } from './bus.ts';
export type { RejectReason } from './codec.ts';
export type { ConsumeOptions, ConsumerHandle } from './consumer.ts';
export { DEFAULT_RETRY_BACKOFF_MS, type StartFrom } from './consumer-policy.ts';
export {
  BusClosedError,
  BusError,
  BusPublishError,
  BusSecretError,
  BusSetupError,
  BusValidationError,
} from './errors.ts';
export type { BusEvent, Delivery, HandlerResult, ReplayedEvent, StreamPosition } from './events.ts';
export { filterSubjectFor } from './filters.ts';
export type { BusKv, KvChange, KvOptions, KvValue } from './kv.ts';
export {
  DEFAULT_LEASE_TTL_MS,
  type Lease,
  type LeaseAttempt,
  type LeasedRunner,
  type LeasedWork,
  LeaseLostError,
  type LeaseOptions,
  LeaseRecord,
  type LeaseSettings,
  type LeaseState,
  type LeaseStore,
  type LeaseTiming,
  leaseTiming,
  NO_LEASE,
  nextLeaseState,
  openLease,
  type RunWhileHeldOptions,
  runWhileHeld,
  startLease,
} from './lease.ts';
export {
  type BusLogger,
  type BusMetrics,
  busSubjectLabel,
  type HandledOutcome,
  type PublishOutcome,
} from './observe.ts';
export type { ReplayOptions } from './replay.ts';
export { isSecretKey } from './secrets.ts';
export type { StreamOptions } from './stream.ts';
export type { EventHandler, SubscriptionHandle } from './subscriber.ts';
