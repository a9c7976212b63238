// Failures of a Runner API call, as named classes so that the claimer can tell a
// misconfigured resource class (auth) from a flaky API (retry with backoff) from a bug on
// either side (malformed answer). Tokens travel in headers and request bodies; no message
// or cause built here ever contains either, nor a response body that might echo one.
import type { RunnerApiPaths } from '@longshore/contracts';

/** Which Runner API call failed: the keys of RunnerApiPaths. */
export type RunnerApiEndpoint = keyof typeof RunnerApiPaths;

export interface RunnerApiErrorDetails {
  endpoint: RunnerApiEndpoint;
  /** HTTP status; 0 when no answer arrived (timeout, connection refused, reset). */
  status: number;
  /** The request hit the client's timeout. */
  timeout?: boolean;
  /** From Retry-After on 429/503 (seconds or an HTTP date), in ms. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** A Runner API call did not give an answer the caller can use. */
export class RunnerApiError extends Error {
  override name = 'RunnerApiError';
  readonly endpoint: RunnerApiEndpoint;
  readonly status: number;
  readonly timeout: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: RunnerApiErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.endpoint = details.endpoint;
    this.status = details.status;
    this.timeout = details.timeout ?? false;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/**
 * The token was refused: 401, 403, a token no header can carry, or 404 on claim, task
 * config and fail (CircleCI's fake Runner API answers a missing or unknown token 404). For a
 * resource-class token this is a problem of that class's configuration (a wrong or revoked
 * token; on claim, a 404 may also be a base URL that is no Runner API), not something a
 * quick retry fixes; for a task token it means the claim is gone (unclaimed, ended or
 * cancelled elsewhere), so there is nothing left to report on it.
 */
export class RunnerApiAuthError extends RunnerApiError {
  override name = 'RunnerApiAuthError';
}

/** A 2xx answer whose body is not JSON or not the documented shape. */
export class RunnerApiMalformedResponseError extends RunnerApiError {
  override name = 'RunnerApiMalformedResponseError';
  /** `path: message` of each schema issue (never the values, which may hold a token). */
  readonly issues: readonly string[];

  constructor(message: string, details: RunnerApiErrorDetails & { issues?: readonly string[] }) {
    super(message, details);
    this.issues = details.issues ?? [];
  }
}

/**
 * A 2xx answer whose body is larger than the client's limit (HttpRunnerApiOptions.
 * maxAnswerBytes). Reading stopped there and the connection was dropped; the body was
 * never parsed, let alone quoted. A kind of malformed answer: no documented answer is
 * that large.
 */
export class RunnerApiOversizeError extends RunnerApiMalformedResponseError {
  override name = 'RunnerApiOversizeError';
  readonly limitBytes: number;

  constructor(message: string, details: RunnerApiErrorDetails & { limitBytes: number }) {
    super(message, details);
    this.limitBytes = details.limitBytes;
  }
}

/**
 * Whether calling again later may succeed: no answer at all, 408, 429, 5xx, and malformed
 * answers (DESIGN.md: logged and retried with backoff, never a crash). Auth failures and
 * other 4xx are answers about the request itself, so repeating it is pointless.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof RunnerApiError)) return false;
  if (err instanceof RunnerApiAuthError) return false;
  if (err instanceof RunnerApiMalformedResponseError) return true;
  const s = err.status;
  return s === 0 || s === 408 || s === 429 || s >= 500;
}
