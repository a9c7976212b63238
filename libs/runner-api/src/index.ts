// Public surface of @longshore/runner-api: the container runner's port to its task
// provider (RunnerApi) and its adapter for CircleCI's Runner API over HTTP.
export {
  isRetryable,
  RunnerApiAuthError,
  type RunnerApiEndpoint,
  RunnerApiError,
  type RunnerApiErrorDetails,
  RunnerApiMalformedResponseError,
  RunnerApiOversizeError,
} from './errors.ts';
export {
  HttpRunnerApi,
  type HttpRunnerApiOptions,
  type RunnerApiObserver,
  type RunnerApiOperation,
  type RunnerApiOutcome,
} from './http-runner-api.ts';
export { parseRetryAfter } from './retry-after.ts';
export type {
  CallOptions,
  ClaimOutcome,
  FailReport,
  RunnerApi,
  RunnerIdentity,
  UnclaimOutcome,
} from './runner-api.ts';
export {
  type HttpAnswer,
  type HttpBody,
  HttpBodyTooLargeError,
  type HttpInit,
  type HttpTransport,
  networkReason,
  nodeHttpTransport,
  readBody,
} from './transport.ts';
