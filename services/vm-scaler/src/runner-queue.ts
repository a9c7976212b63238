// How much work a resource class has: the port the scaling loop reads demand through, and
// its adapter over the Runner API client of @longshore/runner-api (HttpRunnerApi's count
// calls), which does the HTTP: size caps, timeouts covering the body, validation, Retry-After,
// and errors that never carry the token. What is left here is the scaler's own view of a
// failure (RunnerQueueError) and its limits for a call made every second.
import {
  HttpRunnerApi,
  RunnerApiAuthError,
  RunnerApiError,
  RunnerApiMalformedResponseError,
  type RunnerApiObserver,
} from '@longshore/runner-api';

/** Task counts of one resource class. */
export interface RunnerQueue {
  /** Tasks queued and not yet claimed by any runner. */
  unclaimedTasks(resourceClass: string, signal?: AbortSignal): Promise<number>;
  /** Tasks runners are executing now. */
  runningTasks(resourceClass: string, signal?: AbortSignal): Promise<number>;
}

export type RunnerQueueErrorKind = 'unreachable' | 'timeout' | 'status' | 'rate-limited' | 'malformed';

/** A count could not be read. The message never contains the API token or a response body. */
export class RunnerQueueError extends Error {
  override readonly name = 'RunnerQueueError';
  readonly kind: RunnerQueueErrorKind;
  /** HTTP status, for `status`, `rate-limited` and `malformed`. */
  readonly status: number | undefined;
  /** The server's Retry-After, in ms (with 429, or 503 from a proxy). */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: RunnerQueueErrorKind,
    message: string,
    options: { status?: number | undefined; retryAfterMs?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface HttpRunnerQueueOptions {
  /** Runner API base URL (provisioner.circleciAPIAddr). */
  readonly baseUrl: string;
  /** CircleCI API token, sent as `Circle-Token`. */
  readonly token: string;
  /** Per-request limit, answer body included. Default 5 s: a poll every second must not pile up requests. */
  readonly timeoutMs?: number;
  /**
   * Largest answer body read; a larger 2xx answer is `malformed`. Default 64 KiB: a count
   * answer is a few dozen bytes, and the rest leaves room for a proxy's error page.
   */
  readonly maxAnswerBytes?: number;
  /** Told of every count request (for metrics; see HttpRunnerApi's option). */
  readonly observe?: RunnerApiObserver;
}

export class HttpRunnerQueue implements RunnerQueue {
  readonly #api: HttpRunnerApi;
  readonly #token: string;

  constructor(options: HttpRunnerQueueOptions) {
    this.#api = new HttpRunnerApi({
      baseUrl: options.baseUrl,
      timeoutMs: options.timeoutMs ?? 5_000,
      maxAnswerBytes: options.maxAnswerBytes ?? 64 * 1024,
      ...(options.observe === undefined ? {} : { observe: options.observe }),
    });
    this.#token = options.token;
  }

  unclaimedTasks(resourceClass: string, signal?: AbortSignal): Promise<number> {
    return this.#api
      .unclaimedTaskCount(this.#token, resourceClass, signal ? { signal } : {})
      .catch((err: unknown) => Promise.reject(queueErrorOf(err, resourceClass)));
  }

  runningTasks(resourceClass: string, signal?: AbortSignal): Promise<number> {
    return this.#api
      .runningTaskCount(this.#token, resourceClass, signal ? { signal } : {})
      .catch((err: unknown) => Promise.reject(queueErrorOf(err, resourceClass)));
  }
}

/** A failed count call of @longshore/runner-api in the scaling loop's terms. */
export function queueErrorOf(err: unknown, resourceClass: string): RunnerQueueError {
  if (!(err instanceof RunnerApiError)) {
    // The caller's own abort (the loop stopping), passed on by the client as it came.
    const why = err instanceof Error ? err.message : String(err);
    return new RunnerQueueError('unreachable', `task counts of ${resourceClass}: ${why}`, { cause: err });
  }
  const status = err.status === 0 ? undefined : err.status;
  const details = { status, retryAfterMs: err.retryAfterMs, cause: err };
  if (err instanceof RunnerApiMalformedResponseError)
    return new RunnerQueueError('malformed', err.message, details);
  if (err.timeout) return new RunnerQueueError('timeout', err.message, details);
  // Status 0 is no answer, except for a token no header can carry, which the client refused to send.
  if (status === undefined && !(err instanceof RunnerApiAuthError))
    return new RunnerQueueError('unreachable', err.message, details);
  return new RunnerQueueError(status === 429 ? 'rate-limited' : 'status', err.message, details);
}
