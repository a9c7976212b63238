// Public surface of @longshore/runtime: the start-up every service shares, waiting out the
// dependencies that are down, and work repeated on a timer (every). Helpers for the
// Kubernetes apiserver are the separate entry `@longshore/runtime/kube`, so that importing
// this one does not load client-node.
export { bootService, type Service } from './boot.ts';
export {
  type EveryOptions,
  every,
  intervalBackoff,
  nextRunDelay,
  type Periodic,
  type RunOutcome,
} from './periodic.ts';
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
