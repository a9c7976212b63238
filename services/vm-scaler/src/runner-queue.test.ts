// HttpRunnerQueue against answers the simulator does not give: too large, too slow. A
// real server on loopback, since what is read of a connection is the point. How each count
// answer is parsed is @longshore/runner-api's (http-runner-api.test.ts); here, the scaler's
// limits and the kinds its loop sees.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { RunnerApiAuthError, RunnerApiError, RunnerApiMalformedResponseError } from '@longshore/runner-api';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRunnerQueue, queueErrorOf, RunnerQueueError } from './runner-queue.ts';

const TOKEN = 'circle-api-token-5ec7e7';
const RC = 'acme/vm';
const KiB = 1024;

let server: Server | undefined;
let connections = 0;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
  connections = 0;
});

async function queueAnswering(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  timeoutMs?: number,
): Promise<HttpRunnerQueue> {
  server = createServer(handler);
  server.on('connection', (s) => {
    connections++;
    s.on('error', () => {}); // the client drops oversized answers: a reset here
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return new HttpRunnerQueue({ baseUrl, token: TOKEN, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

async function failureOf(p: Promise<unknown>): Promise<RunnerQueueError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunnerQueueError);
  expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(TOKEN);
  return err as RunnerQueueError;
}

describe('HttpRunnerQueue (real HTTP on loopback)', () => {
  it('reads counts over one kept-alive connection', async () => {
    const tokens = new Set<unknown>();
    const queue = await queueAnswering((req, res) => {
      tokens.add(req.headers['circle-token']);
      res.end(req.url?.includes('/running') ? '{"running_runner_tasks":2}' : '{"unclaimed_task_count":5}');
    });
    for (let i = 0; i < 3; i++) {
      expect(await queue.unclaimedTasks(RC)).toBe(5);
      expect(await queue.runningTasks(RC)).toBe(2);
    }
    expect([...tokens]).toEqual([TOKEN]);
    expect(connections).toBe(1);
  });

  it('refuses a count answer over 64 KiB, by content-length or while reading, without quoting it', async () => {
    const body = `{"unclaimed_task_count":1,"echo":"${TOKEN.repeat(10_000)}"}`;
    const queue = await queueAnswering((req, res) => {
      if (req.url?.includes('running')) res.write(body); // chunked: no content-length
      res.end(req.url?.includes('running') ? undefined : body);
    });
    const declared = await failureOf(queue.unclaimedTasks(RC));
    expect(declared).toMatchObject({ kind: 'malformed', status: 200 });
    expect(declared.message).toBe(
      `GET /api/v3/runner/tasks?resource-class=${RC}: HTTP 200 answer body over the 64 KiB limit (content-length ${body.length})`,
    );
    const streamed = await failureOf(queue.runningTasks(RC));
    expect(streamed).toMatchObject({ kind: 'malformed', status: 200 });
    expect(streamed.message).toMatch(/answer body over the 64 KiB limit \(stopped after \d+ bytes\)$/);
  });

  it('keeps the status of a refusal whose body is too large', async () => {
    const queue = await queueAnswering((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end(`<html>${'x'.repeat(200 * KiB)}</html>`);
    });
    expect(await failureOf(queue.unclaimedTasks(RC))).toMatchObject({ kind: 'status', status: 503 });
  });

  it('times out a body that never ends', async () => {
    const queue = await queueAnswering((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(timer));
    }, 300);
    const err = await failureOf(queue.unclaimedTasks(RC));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe(`GET /api/v3/runner/tasks?resource-class=${RC}: no answer within 300 ms`);
  });
});

describe('queueErrorOf', () => {
  it('gives the scaling loop each failure of the Runner API client as its kind, status and Retry-After', () => {
    const endpoint = 'unclaimedCount' as const;
    const cases: [unknown, Partial<RunnerQueueError>][] = [
      [new RunnerApiError('no answer (ECONNREFUSED)', { endpoint, status: 0 }), { kind: 'unreachable' }],
      [
        new RunnerApiError('no answer within 5000 ms', { endpoint, status: 0, timeout: true }),
        { kind: 'timeout' },
      ],
      [
        new RunnerApiError('HTTP 429', { endpoint, status: 429, retryAfterMs: 3_000 }),
        { kind: 'rate-limited', status: 429, retryAfterMs: 3_000 },
      ],
      [
        new RunnerApiError('HTTP 503', { endpoint, status: 503, retryAfterMs: 1_000 }),
        { kind: 'status', status: 503, retryAfterMs: 1_000 },
      ],
      [new RunnerApiAuthError('HTTP 403', { endpoint, status: 403 }), { kind: 'status', status: 403 }],
      [
        new RunnerApiAuthError('the token is empty', { endpoint, status: 0 }),
        { kind: 'status', status: undefined },
      ],
      [
        new RunnerApiMalformedResponseError('not JSON', { endpoint, status: 200 }),
        { kind: 'malformed', status: 200 },
      ],
      [new DOMException('This operation was aborted', 'AbortError'), { kind: 'unreachable' }],
    ];
    for (const [err, expected] of cases) {
      const mapped = queueErrorOf(err, RC);
      expect(mapped).toBeInstanceOf(RunnerQueueError);
      expect(mapped).toMatchObject(expected);
      expect(mapped.cause).toBe(err);
    }
  });
});
