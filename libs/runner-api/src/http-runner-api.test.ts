// What the simulator cannot be made to do: answers that echo a token, tokens a header
// cannot carry, answers too large or too slow. A few-line fetch stands in for the server,
// or a real server on loopback where what happens to the connection matters.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isRetryable,
  RunnerApiAuthError,
  RunnerApiError,
  RunnerApiMalformedResponseError,
  RunnerApiOversizeError,
} from './errors.ts';
import {
  HttpRunnerApi,
  type HttpRunnerApiOptions,
  type RunnerApiOperation,
  type RunnerApiOutcome,
} from './http-runner-api.ts';
import { closed, dribbling, type Loopback, loopback, type Sent, streaming } from './loopback.test-support.ts';
import type { HttpBodyTooLargeError } from './transport.ts';

const TOKEN = 'rc-secret-7f3e9a';
const RUNNER = { name: 'runner-a', hostname: 'host-a', ip: '10.0.0.1', version: '0.1.0' };

function answering(status: number, body: string, headers: Record<string, string> = {}) {
  const calls: Request[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    calls.push(new Request(input, init));
    return new Response(status === 204 ? null : body, { status, headers });
  };
  return { calls, api: new HttpRunnerApi({ baseUrl: 'http://runner.test/', fetch }) };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function expectNoSecret(err: Error, secret = TOKEN): void {
  expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(secret);
  expect(JSON.stringify(err)).not.toContain(secret);
  expect(String(err.stack)).not.toContain(secret);
}

describe('HttpRunnerApi (fake server)', () => {
  it('claims with the token as bearer, the runner as body, and the configured path', async () => {
    const { api, calls } = answering(
      200,
      JSON.stringify({ task_token: 'tt', agent_version: '1', resource_class: 'a/b', allocation: 'al' }),
    );
    const out = await api.claim(TOKEN, RUNNER);
    expect(out).toEqual({
      kind: 'task',
      claim: { task_token: 'tt', agent_version: '1', resource_class: 'a/b', allocation: 'al' },
    });
    const req = calls[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('http://runner.test/api/v3/runner/claim');
    expect(req.headers.get('authorization')).toBe(`Bearer ${TOKEN}`);
    expect(req.headers.get('user-agent')).toBe('longshore');
    expect(await req.json()).toEqual(RUNNER);
  });

  it('reads Retry-After on a 204', async () => {
    const { api } = answering(204, '', { 'retry-after': '7' });
    expect(await api.claim(TOKEN, RUNNER)).toEqual({ kind: 'no-work', retryAfterMs: 7_000 });
  });

  it('blanks the token out of a server message that echoes it', async () => {
    const { api } = answering(400, JSON.stringify({ message: `bad token ${TOKEN} here` }));
    const err = await failure(api.claim(TOKEN, RUNNER));
    expect(err).toBeInstanceOf(RunnerApiError);
    expect(err.message).toBe('POST /api/v3/runner/claim: HTTP 400 (bad token *** here)');
    expect(isRetryable(err)).toBe(false);
    expectNoSecret(err);
  });

  it('never quotes a malformed answer that carries a token', async () => {
    for (const body of [`{"task_token": "${TOKEN}", "allocation": 5}`, `{"task_token": "${TOKEN}`]) {
      const { api } = answering(200, body, { 'content-type': 'application/json' });
      const err = await failure(api.claim('rc', RUNNER));
      expect(err).toBeInstanceOf(RunnerApiMalformedResponseError);
      expectNoSecret(err);
    }
  });

  it('refuses a token a header cannot carry, without quoting it', async () => {
    const { api, calls } = answering(200, '{}');
    for (const bad of [`${TOKEN}\n`, ` ${TOKEN}`, '']) {
      const err = await failure(api.taskConfig(bad));
      expect(err).toBeInstanceOf(RunnerApiAuthError);
      expect((err as RunnerApiAuthError).status).toBe(0);
      expectNoSecret(err);
    }
    expect(calls).toHaveLength(0);
  });

  it('sends the task token as bearer on every task-scoped call, and unclaim’s in the body too', async () => {
    const config = JSON.stringify({
      task_id: 't1',
      resource_class: 'a/b',
      containers: [{ image: 'cimg/base:current' }],
    });
    const { api, calls } = answering(200, config);
    await api.taskConfig(TOKEN);
    await api.unclaim('task-1', TOKEN);
    await api.fail(TOKEN, { allocation: 'al', message: 'x' });
    expect(calls.map((c) => [c.method, new URL(c.url).pathname, c.headers.get('authorization')])).toEqual([
      ['GET', '/api/v2/task/config', `Bearer ${TOKEN}`],
      ['POST', '/api/v3/runner/unclaim', `Bearer ${TOKEN}`],
      ['POST', '/api/v2/task/event/fail', `Bearer ${TOKEN}`],
    ]);
    expect(await calls[1]!.json()).toEqual({ task_id: 'task-1', task_token: TOKEN });
  });

  it('maps unclaim’s 200/404/409 to released/gone/retries-exhausted', async () => {
    for (const [status, outcome] of [
      [200, 'released'],
      [404, 'gone'],
      [409, 'retries-exhausted'],
    ] as const) {
      // CircleCI's fake answers with an empty body; ours with a JSON message.
      for (const body of ['', '{"message":"no"}']) {
        const { api } = answering(status, status === 200 ? '' : body);
        expect(await api.unclaim('task-1', TOKEN)).toBe(outcome);
      }
    }
  });

  it('takes a 404 on claim, task config and fail as a refused token, and says on claim that the URL may be wrong', async () => {
    const calls = [
      (api: HttpRunnerApi) => api.claim(TOKEN, RUNNER),
      (api: HttpRunnerApi) => api.taskConfig(TOKEN),
      (api: HttpRunnerApi) => api.fail(TOKEN, { allocation: 'al', message: 'x' }),
    ];
    const errors: Error[] = [];
    for (const call of calls) {
      const err = await failure(call(answering(404, '').api));
      expect(err).toBeInstanceOf(RunnerApiAuthError);
      expect(err).toMatchObject({ status: 404 });
      expect(isRetryable(err)).toBe(false);
      expectNoSecret(err);
      errors.push(err);
    }
    expect(errors.map((e) => e.message)).toEqual([
      'POST /api/v3/runner/claim: HTTP 404: the token is unknown to the Runner API, or the base URL does not point at one',
      'GET /api/v2/task/config: HTTP 404',
      'POST /api/v2/task/event/fail: HTTP 404',
    ]);
  });

  it('leaves out of a fail message what CircleCI’s orchestrator leaves out', async () => {
    const { api, calls } = answering(200, '');
    await api.fail(TOKEN, { allocation: 'al', message: `<'&error': "image x:1 not found">` });
    const sent = (await calls[0]!.json()) as { message: string };
    expect(Buffer.from(sent.message, 'base64').toString('utf8')).toBe('error: image x:1 not found');
  });

  it('passes a task config with fields it does not know, without them', async () => {
    const { api } = answering(
      200,
      JSON.stringify({
        task_id: 't1',
        resource_class: 'a/b',
        containers: [{ image: 'cimg/base:current', brand_new: { x: 1 } }],
        added_next_year: [1, 2, 3],
      }),
    );
    const config = await api.taskConfig(TOKEN);
    expect(config).toMatchObject({ task_id: 't1', containers: [{ image: 'cimg/base:current' }] });
    expect(config).not.toHaveProperty('added_next_year');
    expect(config.containers[0]).not.toHaveProperty('brand_new');
  });

  it('sends the fail message base64 and the time in ms', async () => {
    const { api, calls } = answering(200, '{}');
    await api.fail(TOKEN, { allocation: 'al', message: 'pod évicted', at: new Date(1_700_000_000_123) });
    expect(await calls[0]!.json()).toEqual({
      allocation: 'al',
      timestamp: 1_700_000_000_123,
      message: Buffer.from('pod évicted').toString('base64'),
    });
  });

  it('rethrows the caller’s abort as is', async () => {
    const api = new HttpRunnerApi({
      baseUrl: 'http://runner.test',
      fetch: (_input, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        }),
    });
    const stop = new AbortController();
    const call = api.claim(TOKEN, RUNNER, { signal: stop.signal });
    stop.abort(new Error('shutting down'));
    await expect(call).rejects.toThrow('shutting down');
  });

  it('refuses a base URL with credentials without quoting it', () => {
    expect(() => new HttpRunnerApi({ baseUrl: `https://u:${TOKEN}@runner.test` })).toThrow(
      /must not contain credentials/,
    );
    try {
      new HttpRunnerApi({ baseUrl: `https://u:${TOKEN}@runner.test` });
    } catch (err) {
      expectNoSecret(err as Error);
    }
  });
});

describe('HttpRunnerApi task counts (fake server)', () => {
  const API_TOKEN = 'circle-api-token-5ec7e7';

  it('asks with the API token as Circle-Token and the resource class in the query', async () => {
    const { api, calls } = answering(200, '{"unclaimed_task_count":5,"running_runner_tasks":2}');
    expect(await api.unclaimedTaskCount(API_TOKEN, 'acme/vm large')).toBe(5);
    expect(await api.runningTaskCount(API_TOKEN, 'acme/vm large')).toBe(2);
    expect(
      calls.map((c) => [c.method, c.url, c.headers.get('circle-token'), c.headers.get('authorization')]),
    ).toEqual([
      ['GET', 'http://runner.test/api/v3/runner/tasks?resource-class=acme%2Fvm%20large', API_TOKEN, null],
      [
        'GET',
        'http://runner.test/api/v3/runner/tasks/running?resource-class=acme%2Fvm%20large',
        API_TOKEN,
        null,
      ],
    ]);
  });

  it('refuses a count that is not a whole number of tasks, naming the field, never the body', async () => {
    for (const body of [
      `{"unclaimed_task_count":-1,"echo":"${API_TOKEN}"}`,
      `{"unclaimed_task_count":1.5}`,
      `{"unclaimed_task_count":"3"}`,
      '{}',
    ]) {
      const { api } = answering(200, body);
      const err = await failure(api.unclaimedTaskCount(API_TOKEN, 'acme/vm'));
      expect(err).toBeInstanceOf(RunnerApiMalformedResponseError);
      expect(err.message).toMatch(
        /^GET \/api\/v3\/runner\/tasks\?resource-class=acme\/vm: HTTP 200 answer is not the expected shape \(unclaimed_task_count: /,
      );
      expect(isRetryable(err)).toBe(true);
      expectNoSecret(err, API_TOKEN);
    }
    const { api } = answering(200, `<html>${API_TOKEN}</html>`, { 'content-type': 'text/html' });
    const err = await failure(api.runningTaskCount(API_TOKEN, 'acme/vm'));
    expect(err.message).toBe(
      'GET /api/v3/runner/tasks/running?resource-class=acme/vm: HTTP 200 answer is not JSON (text/html, 36 chars)',
    );
    expectNoSecret(err, API_TOKEN);
  });

  it("passes on a rate limit's Retry-After, and a proxy's with 503", async () => {
    for (const status of [429, 503]) {
      const { api } = answering(status, '', { 'retry-after': '3' });
      const err = await failure(api.runningTaskCount(API_TOKEN, 'acme/vm'));
      expect(err).toMatchObject({ name: 'RunnerApiError', status, retryAfterMs: 3_000 });
      expect(isRetryable(err)).toBe(true);
    }
  });

  it('takes 401 and 403 as a refused token, quoting the server without the token, and 404 as a status', async () => {
    const { api } = answering(403, JSON.stringify({ message: `token ${API_TOKEN} not accepted` }));
    const err = await failure(api.unclaimedTaskCount(API_TOKEN, 'acme/vm'));
    expect(err).toBeInstanceOf(RunnerApiAuthError);
    expect(err.message).toBe(
      'GET /api/v3/runner/tasks?resource-class=acme/vm: HTTP 403 (token *** not accepted)',
    );
    expectNoSecret(err, API_TOKEN);
    const notFound = await failure(answering(404, '').api.unclaimedTaskCount(API_TOKEN, 'acme/vm'));
    expect(notFound).not.toBeInstanceOf(RunnerApiAuthError);
    expect(notFound).toMatchObject({ status: 404 });
  });

  it('refuses an API token a header cannot carry, without sending or quoting it', async () => {
    const { api, calls } = answering(200, '{"unclaimed_task_count":1}');
    const err = await failure(api.unclaimedTaskCount(`${API_TOKEN}\n`, 'acme/vm'));
    expect(err).toBeInstanceOf(RunnerApiAuthError);
    expectNoSecret(err, API_TOKEN);
    expect(calls).toHaveLength(0);
  });
});

describe('HttpRunnerApi (real HTTP on loopback)', () => {
  const MiB = 1024 * 1024;
  const CLAIM = JSON.stringify({
    task_token: 'tt',
    agent_version: '1',
    resource_class: 'a/b',
    allocation: 'al',
  });
  let server: Loopback | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    options: Omit<HttpRunnerApiOptions, 'baseUrl'> = {},
  ) {
    server = await loopback(handler);
    return { server, api: new HttpRunnerApi({ baseUrl: server.url, ...options }) };
  }

  it('refuses a claim answer whose content-length is over 4 MiB, naming the call and the limit', async () => {
    const { server, api } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * MiB) });
      res.write(`{"task_token":"${TOKEN}",`);
    });
    const err = await failure(api.claim(TOKEN, RUNNER));
    expect(err).toBeInstanceOf(RunnerApiOversizeError);
    expect(err).toBeInstanceOf(RunnerApiMalformedResponseError);
    expect(err).toMatchObject({ endpoint: 'claim', status: 200, limitBytes: 4 * MiB });
    expect(err.message).toBe(
      `POST /api/v3/runner/claim: HTTP 200 answer body over the 4 MiB limit (content-length ${50 * MiB})`,
    );
    expect(isRetryable(err)).toBe(true);
    expectNoSecret(err);
    await closed(server.sockets[0]);
  });

  it('stops reading a chunked 50 MB task config about the cap, without quoting it', async () => {
    const sent: Sent = { bytes: 0, finished: false };
    // The body is the token over and over: none of it may reach the error.
    const { server, api } = await serve(streaming(50 * MiB, sent, TOKEN));
    const err = await failure(api.taskConfig(TOKEN));
    expect(err).toBeInstanceOf(RunnerApiOversizeError);
    expect(err.message).toMatch(
      /^GET \/api\/v2\/task\/config: HTTP 200 answer body over the 4 MiB limit \(stopped after \d+ bytes\)$/,
    );
    const { readBytes } = err.cause as HttpBodyTooLargeError;
    expect(readBytes).toBeGreaterThan(4 * MiB);
    expect(readBytes).toBeLessThan(5 * MiB);
    expectNoSecret(err);
    await closed(server.sockets[0]);
    expect(sent.finished).toBe(false);
  });

  it('keeps the status of a refusal whose body is too large', async () => {
    const { api } = await serve((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'x'.repeat(5 * MiB) }));
    });
    const err = await failure(api.claim(TOKEN, RUNNER));
    expect(err).toBeInstanceOf(RunnerApiAuthError);
    expect(err.message).toBe('POST /api/v3/runner/claim: HTTP 403');
  });

  it('takes a smaller cap as an option', async () => {
    const { api } = await serve((_req, res) => res.end(CLAIM), { maxAnswerBytes: 64 });
    const err = await failure(api.claim(TOKEN, RUNNER));
    expect(err).toMatchObject({ name: 'RunnerApiOversizeError', limitBytes: 64 });
    expect(err.message).toContain('over the 64 bytes limit');
  });

  it('times out a server that sends headers and then dribbles the body forever, and drops the connection', async () => {
    const { server, api } = await serve(dribbling, { timeoutMs: 300 });
    const err = await failure(api.taskConfig(TOKEN));
    expect(err).toMatchObject({ name: 'RunnerApiError', endpoint: 'taskConfig', status: 0, timeout: true });
    expect(err.message).toBe('GET /api/v2/task/config: no answer within 300 ms');
    expect(isRetryable(err)).toBe(true);
    expectNoSecret(err);
    await closed(server.sockets[0]);
  });

  it('reuses its connection after good answers, and opens a new one after an oversized answer', async () => {
    let big = false;
    const { server, api } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(big ? `{"pad":"${'x'.repeat(5 * MiB)}"}` : CLAIM);
    });
    for (let i = 0; i < 3; i++) expect((await api.claim(TOKEN, RUNNER)).kind).toBe('task');
    expect(server.sockets).toHaveLength(1);
    big = true;
    expect(await failure(api.claim(TOKEN, RUNNER))).toBeInstanceOf(RunnerApiOversizeError);
    await closed(server.sockets[0]);
    big = false;
    expect((await api.claim(TOKEN, RUNNER)).kind).toBe('task');
    expect(server.sockets).toHaveLength(2);
  });

  it('caps answers read through a fetch passed as the transport too', async () => {
    const sent: Sent = { bytes: 0, finished: false };
    const { server, api } = await serve(streaming(50 * MiB, sent, TOKEN), { fetch });
    const err = await failure(api.taskConfig(TOKEN));
    expect(err).toBeInstanceOf(RunnerApiOversizeError);
    expect((err.cause as HttpBodyTooLargeError).readBytes).toBeLessThan(5 * MiB);
    expectNoSecret(err);
    await closed(server.sockets[0]);
    expect(sent.finished).toBe(false);
  });
});

describe('HttpRunnerApi observe (real HTTP on loopback)', () => {
  let server: Loopback | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** A server answering each path with a status and body, and a client that records what it observes. */
  async function observed(answers: Record<string, [number, unknown]>, options: { timeoutMs?: number } = {}) {
    server = await loopback((req, res) => {
      req.resume();
      const [status, body] = answers[(req.url ?? '').split('?')[0]!] ?? [500, {}];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 204 ? undefined : JSON.stringify(body));
    });
    const seen: [RunnerApiOperation, RunnerApiOutcome][] = [];
    const api = new HttpRunnerApi({
      baseUrl: server.url,
      ...options,
      observe: (operation, outcome, ms) => {
        expect(ms).toBeGreaterThanOrEqual(0);
        seen.push([operation, outcome]);
      },
    });
    return { api, seen };
  }

  it('reports each call once, by operation and status class, whether the answer is a success or not', async () => {
    const { api, seen } = await observed({
      '/api/v3/runner/claim': [204, undefined],
      '/api/v2/task/config': [404, { message: 'gone' }],
      '/api/v3/runner/unclaim': [409, {}],
      '/api/v2/task/event/fail': [500, {}],
      '/api/v3/runner/tasks': [200, { unclaimed_task_count: 3 }],
      '/api/v3/runner/tasks/running': [503, {}],
    });
    await api.claim(TOKEN, RUNNER);
    await failure(api.taskConfig(TOKEN));
    await api.unclaim('task-1', TOKEN);
    await failure(api.fail(TOKEN, { allocation: 'al', message: 'x' }));
    await api.unclaimedTaskCount(TOKEN, 'a/b');
    await failure(api.runningTaskCount(TOKEN, 'a/b'));
    expect(seen).toEqual([
      ['claim', '2xx'],
      ['task_config', '4xx'],
      ['unclaim', '4xx'],
      ['fail', '5xx'],
      ['unclaimed_count', '2xx'],
      ['running_count', '5xx'],
    ]);
  });

  it('reports no answer as error, a slow one as timeout, and a 2xx answer too large to read as error', async () => {
    const { api, seen } = await observed({
      '/api/v3/runner/claim': [200, { pad: 'x'.repeat(5 * 1024 * 1024) }],
    });
    await failure(api.claim(TOKEN, RUNNER));
    await server?.close();
    server = undefined;
    await failure(api.taskConfig(TOKEN));
    server = await loopback(dribbling);
    const slow = new HttpRunnerApi({
      baseUrl: server.url,
      timeoutMs: 200,
      observe: (operation, outcome) => seen.push([operation, outcome]),
    });
    await failure(slow.taskConfig(TOKEN));
    expect(seen).toEqual([
      ['claim', 'error'],
      ['task_config', 'error'],
      ['task_config', 'timeout'],
    ]);
  });

  it('reports neither a call the caller aborted nor one refused before sending', async () => {
    server = await loopback(dribbling);
    const seen: string[] = [];
    const api = new HttpRunnerApi({ baseUrl: server.url, observe: (operation) => seen.push(operation) });
    const stop = new AbortController();
    const call = failure(api.taskConfig(TOKEN, { signal: stop.signal }));
    stop.abort(new Error('shutting down'));
    expect((await call).message).toBe('shutting down');
    await failure(api.taskConfig('has space'));
    expect(seen).toEqual([]);
  });
});

describe('isRetryable', () => {
  const e = (status: number, extra = {}) => new RunnerApiError('x', { endpoint: 'claim', status, ...extra });
  it.each([
    [e(0, { timeout: true }), true],
    [e(0), true],
    [e(408), true],
    [e(429), true],
    [e(500), true],
    [e(503), true],
    [e(400), false],
    [e(404), false],
    [e(409), false],
    [new RunnerApiAuthError('x', { endpoint: 'claim', status: 403 }), false],
    [new RunnerApiAuthError('x', { endpoint: 'claim', status: 0 }), false],
    [new RunnerApiMalformedResponseError('x', { endpoint: 'claim', status: 200 }), true],
    [new Error('other'), false],
  ])('%o -> %s', (err, retryable) => {
    expect(isRetryable(err)).toBe(retryable);
  });
});
