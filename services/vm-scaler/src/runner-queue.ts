// How much work a resource class has: the port the scaling loop reads demand through, and
// its adapter for the CircleCI Runner API's task-count endpoints (DESIGN.md, "Runner API").
// Answers are hostile until parsed: bodies are read up to a size cap (readBody, shared with
// the claimer's client) and the timeout covers the body as well as the headers.
import { RunnerApiPaths, RunningCount, UnclaimedCount } from '@longshore/contracts';
import { type HttpAnswer, HttpBodyTooLargeError, nodeHttpTransport, readBody } from '@longshore/runner-api';
import type { z } from 'zod';

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
  /** The server's Retry-After, in ms, for `rate-limited`. */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: RunnerQueueErrorKind,
    message: string,
    options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface HttpRunnerQueueOptions {
  /** Runner API base URL without a trailing slash (provisioner.circleciAPIAddr). */
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
}

export class HttpRunnerQueue implements RunnerQueue {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #maxAnswerBytes: number;

  constructor(options: HttpRunnerQueueOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#maxAnswerBytes = options.maxAnswerBytes ?? 64 * 1024;
  }

  async unclaimedTasks(resourceClass: string, signal?: AbortSignal): Promise<number> {
    const body = await this.#get(RunnerApiPaths.unclaimedCount, resourceClass, UnclaimedCount, signal);
    return body.unclaimed_task_count;
  }

  async runningTasks(resourceClass: string, signal?: AbortSignal): Promise<number> {
    const body = await this.#get(RunnerApiPaths.runningCount, resourceClass, RunningCount, signal);
    return body.running_runner_tasks;
  }

  async #get<S extends z.ZodType>(
    path: string,
    resourceClass: string,
    schema: S,
    signal: AbortSignal | undefined,
  ): Promise<z.output<S>> {
    const url = `${this.#baseUrl}${path}?resource-class=${encodeURIComponent(resourceClass)}`;
    const what = `GET ${path}?resource-class=${resourceClass}`;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    let response: HttpAnswer | undefined;
    let text: string;
    try {
      response = await nodeHttpTransport(url, {
        method: 'GET',
        headers: { 'Circle-Token': this.#token, accept: 'application/json' },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      text = await readBody(response, this.#maxAnswerBytes);
    } catch (cause) {
      if (cause instanceof HttpBodyTooLargeError && response !== undefined) {
        const status = response.status;
        // Only a 2xx body is read; a refusal's status says all without it.
        if (status >= 200 && status <= 299) {
          throw new RunnerQueueError('malformed', `${what}: HTTP ${status} answer ${cause.message}`, {
            status,
            cause,
          });
        }
        text = '';
      } else if (timeout.aborted) {
        throw new RunnerQueueError('timeout', `${what}: no answer within ${this.#timeoutMs} ms`, { cause });
      } else {
        throw new RunnerQueueError('unreachable', `${what}: ${messageOf(cause)}`, { cause });
      }
    }
    const status = response.status;
    if (status === 429) {
      const retryAfterMs = retryAfter(response.headers.get('retry-after'));
      throw new RunnerQueueError('rate-limited', `${what}: 429 rate limited`, {
        status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (status < 200 || status > 299)
      throw new RunnerQueueError('status', `${what}: HTTP ${status}`, { status });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new RunnerQueueError('malformed', `${what}: response is not JSON`, { status, cause });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
      throw new RunnerQueueError('malformed', `${what}: unexpected response (${issues.join('; ')})`, {
        status,
        cause: parsed.error,
      });
    }
    return parsed.data;
  }
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch's own message is "fetch failed", with the reason (ECONNREFUSED, ...) as its cause;
  // node:http (the default transport) throws the reason itself.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
