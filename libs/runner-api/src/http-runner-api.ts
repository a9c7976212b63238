// RunnerApi over HTTP: CircleCI's Runner API (DESIGN.md, "Runner API"), with paths and
// wire shapes from @longshore/contracts so that this client and tools/runner-api-sim
// cannot drift. Sends through node:http(s) on keep-alive pools (transport.ts).
//
// Calls as CircleCI's own in-pod orchestrator makes them (circleci/runner-init,
// clients/runner/client.go): every task-scoped call carries its task token as `Authorization:
// Bearer`, unclaim included, whose body holds `task_id` and `task_token` as well; a fail
// event's message goes without the characters that client removes.
//
// The task counts of a resource class (the vm-scaler's demand) are read here too: the same
// API, authenticated with a CircleCI API token in `Circle-Token` instead of a bearer token.
//
// Secrets: resource-class and task tokens go out in the Authorization header and the
// unclaim body, API tokens in `Circle-Token`. Errors built here name the call and the status only; a server's error
// message is quoted with this request's tokens blanked out, and causes are chosen so they
// cannot carry a token either (see #exchange and #parse).
//
// Answers are hostile until parsed: a body is read only up to maxAnswerBytes, and a call
// that does not finish within timeoutMs (headers and body) fails as a timeout.
//
// Every request sent is reported to the `observe` option once (for metrics): by operation,
// and by how the exchange ended (see RunnerApiOutcome).
import { inspect } from 'node:util';
import {
  type ClaimRequest,
  ClaimResponse,
  type FailEvent,
  RunnerApiPaths,
  RunningCount,
  TaskConfig,
  UnclaimedCount,
  type UnclaimRequest,
} from '@longshore/contracts';
import { z } from 'zod';
import {
  RunnerApiAuthError,
  type RunnerApiEndpoint,
  RunnerApiError,
  RunnerApiMalformedResponseError,
  RunnerApiOversizeError,
} from './errors.ts';
import { parseRetryAfter } from './retry-after.ts';
import type {
  CallOptions,
  ClaimOutcome,
  FailReport,
  RunnerApi,
  RunnerIdentity,
  UnclaimOutcome,
} from './runner-api.ts';
import {
  type HttpAnswer,
  HttpBodyTooLargeError,
  type HttpTransport,
  networkReason,
  nodeHttpTransport,
  readBody,
} from './transport.ts';

export interface HttpRunnerApiOptions {
  /** e.g. https://runner.circleci.com (agent.runnerAPI); no credentials in it. */
  baseUrl: string;
  /** Limit for one call, answer body included. Default 10 s. */
  timeoutMs?: number;
  /** Largest answer body read; a larger 2xx answer is a RunnerApiOversizeError. Default 4 MiB. */
  maxAnswerBytes?: number;
  /** Sent as User-Agent. Default `longshore`. */
  userAgent?: string;
  /** How to send requests (a fetch fits). Default: node:http(s) with keep-alive (transport.ts). */
  fetch?: HttpTransport;
  /**
   * Told of every request sent, once it ended. A call refused before sending (a token no
   * header can carry) is not one; neither is one the caller aborted (shutdown), which says
   * nothing about the API.
   */
  observe?: RunnerApiObserver;
}

/** A Runner API call, as a metric label. */
export type RunnerApiOperation =
  | 'claim'
  | 'task_config'
  | 'unclaim'
  | 'fail'
  | 'unclaimed_count'
  | 'running_count';

/**
 * How an exchange ended: the status class of a whole answer (a 404 is an answer), `timeout`
 * when timeoutMs ran out first, `error` for no answer or one that could not be read whole
 * (connection refused or reset, a 2xx body over maxAnswerBytes).
 */
export type RunnerApiOutcome = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'error';

export type RunnerApiObserver = (
  operation: RunnerApiOperation,
  outcome: RunnerApiOutcome,
  durationMs: number,
) => void;

/**
 * The largest legitimate answer is a task config: the job's containers, steps and whole
 * environment (project variables, contexts). Linux's exec takes at most a quarter of the
 * stack limit for arguments and environment together, 2 MiB with the usual 8 MiB stack,
 * so a config whose environment can reach a container at all stays near that; 4 MiB is
 * twice it, and caps what one hostile answer costs a claimer at 4 MiB per call in flight.
 */
const DEFAULT_MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** unclaim and fail answer `{}`; an empty body is accepted too. */
const Ack = z.object({});

const OPERATION: Record<RunnerApiEndpoint, RunnerApiOperation> = {
  claim: 'claim',
  unclaim: 'unclaim',
  taskConfig: 'task_config',
  fail: 'fail',
  unclaimedCount: 'unclaimed_count',
  runningCount: 'running_count',
};

const METHOD: Record<RunnerApiEndpoint, 'GET' | 'POST'> = {
  claim: 'POST',
  unclaim: 'POST',
  taskConfig: 'GET',
  fail: 'POST',
  unclaimedCount: 'GET',
  runningCount: 'GET',
};

/** A call's path after the endpoint's, such as `?resource-class=acme/vm` (raw, for messages) and as sent. */
interface Query {
  shown: string;
  sent: string;
}

/** How errors name a call: `POST /api/v3/runner/claim`, `GET /api/v3/runner/tasks?resource-class=a/b`. */
function callName(endpoint: RunnerApiEndpoint, query?: Query): string {
  return `${METHOD[endpoint]} ${RunnerApiPaths[endpoint]}${query?.shown ?? ''}`;
}

/** The query of the count endpoints. */
function resourceClassQuery(resourceClass: string): Query {
  return {
    shown: `?resource-class=${resourceClass}`,
    sent: `?resource-class=${encodeURIComponent(resourceClass)}`,
  };
}

/**
 * The credentials of one request: the token it authenticates with (a bearer token, or a
 * CircleCI API token in `Circle-Token`), and every token it sends (to redact).
 */
interface Credentials {
  bearer?: string;
  circleToken?: string;
  secrets: readonly string[];
}

interface Answer {
  /** The call as errors name it (callName). */
  call: string;
  status: number;
  headers: HttpAnswer['headers'];
  text: string;
}

export class HttpRunnerApi implements RunnerApi {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #maxAnswerBytes: number;
  readonly #userAgent: string;
  readonly #fetch: HttpTransport;
  readonly #observe: RunnerApiObserver | undefined;

  constructor(options: HttpRunnerApiOptions) {
    this.#baseUrl = checkBaseUrl(options.baseUrl);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    this.#userAgent = options.userAgent ?? 'longshore';
    this.#fetch = options.fetch ?? nodeHttpTransport;
    this.#observe = options.observe;
  }

  async claim(
    resourceClassToken: string,
    runner: RunnerIdentity,
    opts: CallOptions = {},
  ): Promise<ClaimOutcome> {
    const body: ClaimRequest = {
      name: runner.name,
      hostname: runner.hostname,
      ip: runner.ip,
      version: runner.version,
    };
    const creds = { bearer: resourceClassToken, secrets: [resourceClassToken] };
    const answer = await this.#exchange('claim', creds, body, opts);
    if (answer.status === 204) {
      const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), Date.now());
      return retryAfterMs === undefined ? { kind: 'no-work' } : { kind: 'no-work', retryAfterMs };
    }
    if (answer.status !== 200) throw statusError('claim', answer, creds);
    return { kind: 'task', claim: parse('claim', answer, ClaimResponse) };
  }

  async taskConfig(taskToken: string, opts: CallOptions = {}): Promise<TaskConfig> {
    const creds = { bearer: taskToken, secrets: [taskToken] };
    const answer = await this.#exchange('taskConfig', creds, undefined, opts);
    if (answer.status !== 200) throw statusError('taskConfig', answer, creds);
    return parse('taskConfig', answer, TaskConfig);
  }

  async unclaim(taskId: string, taskToken: string, opts: CallOptions = {}): Promise<UnclaimOutcome> {
    const body: UnclaimRequest = { task_id: taskId, task_token: taskToken };
    const creds = { bearer: taskToken, secrets: [taskToken] };
    const answer = await this.#exchange('unclaim', creds, body, opts);
    switch (answer.status) {
      case 200:
        parseAck('unclaim', answer);
        return 'released';
      case 404:
        return 'gone';
      case 409:
        return 'retries-exhausted';
      default:
        throw statusError('unclaim', answer, creds);
    }
  }

  async fail(taskToken: string, report: FailReport, opts: CallOptions = {}): Promise<void> {
    const body: FailEvent = {
      allocation: report.allocation,
      timestamp: (report.at ?? new Date()).getTime(),
      message: Buffer.from(failText(report.message), 'utf8').toString('base64'),
    };
    const creds = { bearer: taskToken, secrets: [taskToken] };
    const answer = await this.#exchange('fail', creds, body, opts);
    if (answer.status !== 200) throw statusError('fail', answer, creds);
    parseAck('fail', answer);
  }

  /**
   * Tasks of a resource class queued and not yet claimed by any runner. Not part of the
   * RunnerApi port: the claimer never asks; the vm-scaler sizes its pools by it.
   */
  async unclaimedTaskCount(apiToken: string, resourceClass: string, opts: CallOptions = {}): Promise<number> {
    const body = await this.#count('unclaimedCount', UnclaimedCount, apiToken, resourceClass, opts);
    return body.unclaimed_task_count;
  }

  /** Tasks of a resource class that runners are executing now (see unclaimedTaskCount). */
  async runningTaskCount(apiToken: string, resourceClass: string, opts: CallOptions = {}): Promise<number> {
    const body = await this.#count('runningCount', RunningCount, apiToken, resourceClass, opts);
    return body.running_runner_tasks;
  }

  /** A count endpoint's answer, asked with the API token in `Circle-Token`. */
  async #count<S extends z.ZodType>(
    endpoint: 'unclaimedCount' | 'runningCount',
    schema: S,
    apiToken: string,
    resourceClass: string,
    opts: CallOptions,
  ): Promise<z.output<S>> {
    const creds = { circleToken: apiToken, secrets: [apiToken] };
    const answer = await this.#exchange(endpoint, creds, undefined, opts, resourceClassQuery(resourceClass));
    if (answer.status !== 200) throw statusError(endpoint, answer, creds);
    return parse(endpoint, answer, schema);
  }

  /** One request and its whole answer, or a RunnerApiError when no answer arrived. */
  async #exchange(
    endpoint: RunnerApiEndpoint,
    creds: Credentials,
    body: unknown,
    opts: CallOptions,
    query?: Query,
  ): Promise<Answer> {
    const what = callName(endpoint, query);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent };
    const token = creds.bearer ?? creds.circleToken;
    if (token !== undefined) {
      // Some HTTP clients (fetch) reject a header value with control characters in an error
      // that quotes the value, i.e. the token. Refuse such a token here, without quoting it.
      if (!isHeaderSafe(token)) {
        throw new RunnerApiAuthError(
          `${what}: the token is empty or has whitespace or control characters; check its configuration`,
          { endpoint, status: 0 },
        );
      }
      if (creds.bearer !== undefined) headers.authorization = `Bearer ${creds.bearer}`;
      else headers['circle-token'] = token;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = opts.signal === undefined ? timeout : AbortSignal.any([opts.signal, timeout]);
    const started = performance.now();
    const ended = (outcome: RunnerApiOutcome) =>
      this.#observe?.(OPERATION[endpoint], outcome, performance.now() - started);
    let response: HttpAnswer | undefined;
    try {
      response = await this.#fetch(`${this.#baseUrl}${RunnerApiPaths[endpoint]}${query?.sent ?? ''}`, {
        method: METHOD[endpoint],
        headers,
        signal,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      // Under the same signal, so a server that stalls mid-body also times out.
      const text = await readBody(response, this.#maxAnswerBytes);
      ended(statusClass(response.status));
      return { call: what, status: response.status, headers: response.headers, text };
    } catch (err) {
      if (err instanceof HttpBodyTooLargeError && response !== undefined) {
        // A refusal's status is what the caller acts on; its body would only have been
        // quoted in the message, so an oversized one is dropped and the status kept.
        if (response.status < 200 || response.status > 299) {
          ended(statusClass(response.status));
          return { call: what, status: response.status, headers: response.headers, text: '' };
        }
        ended('error');
        throw new RunnerApiOversizeError(`${what}: HTTP ${response.status} answer ${err.message}`, {
          endpoint,
          status: response.status,
          limitBytes: err.limitBytes,
          cause: err,
        });
      }
      // The caller's own abort (shutdown) is not an API failure: rethrow its reason.
      if (opts.signal?.aborted) throw opts.signal.reason;
      ended(timeout.aborted ? 'timeout' : 'error');
      const cause = withoutSecrets(err, creds.secrets);
      if (timeout.aborted) {
        throw new RunnerApiError(`${what}: no answer within ${this.#timeoutMs} ms`, {
          endpoint,
          status: 0,
          timeout: true,
          cause,
        });
      }
      throw new RunnerApiError(`${what}: no answer (${networkReason(cause)})`, {
        endpoint,
        status: 0,
        cause,
      });
    }
  }
}

/** `2xx` for 200 to 299, and so on; `error` for what is not an HTTP status. */
function statusClass(status: number): RunnerApiOutcome {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? (`${c}xx` as RunnerApiOutcome) : 'error';
}

/**
 * What CircleCI's orchestrator removes from a fail event's message before sending it
 * (clients/runner/client.go): HTML's special characters. Why is not said; the message is
 * shown on the job's page, so we send what CircleCI's own client sends.
 */
function failText(message: string): string {
  return message.replace(/[<>&'"]/g, '');
}

/**
 * Answers that refuse the token itself. 401 and 403, and 404: CircleCI's fake Runner API
 * (runner-init, internal/testing/fakerunnerapi) answers a missing or unknown token 404, so
 * a task-scoped 404 means the claim is gone. On claim, a base URL that is not a Runner API
 * answers 404 too: the message says so, since the two cannot be told apart.
 */
function refusesToken(endpoint: RunnerApiEndpoint, status: number): boolean {
  if (status === 401 || status === 403) return true;
  return status === 404 && (endpoint === 'claim' || endpoint === 'taskConfig' || endpoint === 'fail');
}

function statusError(endpoint: RunnerApiEndpoint, answer: Answer, creds: Credentials): RunnerApiError {
  const said = serverMessage(answer.text, creds.secrets);
  const hint =
    endpoint === 'claim' && answer.status === 404
      ? ': the token is unknown to the Runner API, or the base URL does not point at one'
      : '';
  const message = `${answer.call}: HTTP ${answer.status}${said ? ` (${said})` : ''}${hint}`;
  if (refusesToken(endpoint, answer.status)) {
    return new RunnerApiAuthError(message, { endpoint, status: answer.status });
  }
  const retryAfterMs =
    answer.status === 429 || answer.status === 503
      ? parseRetryAfter(answer.headers.get('retry-after'), Date.now())
      : undefined;
  return new RunnerApiError(message, {
    endpoint,
    status: answer.status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

function parse<S extends z.ZodType>(endpoint: RunnerApiEndpoint, answer: Answer, schema: S): z.output<S> {
  const what = `${answer.call}: HTTP ${answer.status} answer`;
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    // No cause on purpose: JSON.parse's message quotes the body, which may hold a token.
    const type = answer.headers.get('content-type') ?? 'no content-type';
    throw new RunnerApiMalformedResponseError(`${what} is not JSON (${type}, ${answer.text.length} chars)`, {
      endpoint,
      status: answer.status,
    });
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  // zod's issues carry paths and expectations, not the input values (reportInput is off).
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new RunnerApiMalformedResponseError(`${what} is not the expected shape (${issues.join('; ')})`, {
    endpoint,
    status: answer.status,
    issues,
    cause: parsed.error,
  });
}

function parseAck(endpoint: 'unclaim' | 'fail', answer: Answer): void {
  if (answer.text.trim() !== '') parse(endpoint, answer, Ack);
}

/** The base URL without a trailing slash; refuses one with credentials in it. */
function checkBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError('HttpRunnerApi: baseUrl is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`HttpRunnerApi: baseUrl must be http(s), not ${url.protocol}`);
  }
  // fetch refuses such URLs with an error that quotes them, credentials and all.
  if (url.username !== '' || url.password !== '') {
    throw new TypeError('HttpRunnerApi: baseUrl must not contain credentials');
  }
  return baseUrl.replace(/\/+$/, '');
}

/** A token fetch accepts as (part of) a header value without complaint or change. */
function isHeaderSafe(token: string): boolean {
  // Visible ASCII only: what CircleCI tokens are made of; whitespace would be trimmed or
  // split, anything else refused by fetch with the value in its message.
  return /^[\x21-\x7e]+$/.test(token);
}

/**
 * The error itself when no token shows anywhere in it (the usual case: fetch's network
 * errors describe the socket); otherwise a stand-in that says so, since a cause that
 * leaks a token into a log is worse than a cause with less detail.
 */
function withoutSecrets(err: unknown, secrets: readonly string[]): unknown {
  const shown = inspect(err, { depth: 8, showHidden: true });
  if (!secrets.some((s) => s !== '' && shown.includes(s))) return err;
  const name = err instanceof Error ? err.name : typeof err;
  return new Error(`${name} (details withheld: they quote a token)`);
}

/** The `message` of a JSON error body, short, with this request's tokens blanked out. */
function serverMessage(text: string, secrets: readonly string[]): string | undefined {
  let message: unknown;
  try {
    message = (JSON.parse(text) as { message?: unknown } | null)?.message;
  } catch {
    return undefined; // HTML error pages and the like say nothing useful in one line
  }
  if (typeof message !== 'string' || message === '') return undefined;
  let out = message;
  for (const s of secrets) if (s !== '') out = out.replaceAll(s, '***');
  return out.replace(/\s+/g, ' ').slice(0, 200);
}
