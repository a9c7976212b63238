// The real client against the real simulator over HTTP: the task's life as a runner
// drives it, every documented outcome, the faults a flaky API shows, and, for every error
// any of it produced, that no token leaked into it.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { type RunningSim, SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HttpRunnerApi,
  isRetryable,
  RunnerApiAuthError,
  type RunnerApiError,
  RunnerApiMalformedResponseError,
} from '../src/index.ts';

const RC = 'acme/small';
const RC_TOKEN = `rc-tok-${randomBytes(8).toString('hex')}`;
const OTHER_TOKEN = `rc-tok-unknown-${randomBytes(8).toString('hex')}`;
const RUNNER = { name: 'runner-a', hostname: 'host-a', ip: '10.0.0.7', version: '0.1.0-test' };

let sim: RunningSim;
let admin: SimAdminClient;
let api: HttpRunnerApi;
/** Every token the tests saw (class tokens and the task tokens the simulator issued). */
const tokens = new Set([RC_TOKEN, OTHER_TOKEN]);
/** Every error any test caught, checked for tokens at the end. */
const errors: unknown[] = [];

beforeEach(async () => {
  sim = await startSim({ classes: { [RC]: [RC_TOKEN] }, apiToken: 'api-token' });
  admin = new SimAdminClient(sim.url);
  api = new HttpRunnerApi({ baseUrl: sim.url, timeoutMs: 2_000, userAgent: 'longshore-test' });
});

afterEach(async () => {
  await sim.close();
});

afterAll(() => {
  for (const err of errors) {
    const shown = [
      inspect(err, { depth: 10, showHidden: true }),
      JSON.stringify(err),
      (err as Error).message,
      String((err as Error).stack),
    ].join('\n');
    for (const t of tokens) expect(shown).not.toContain(t);
  }
});

/** The rejection of `p` (recorded for the token check), or a failure if it resolved. */
async function rejection(p: Promise<unknown>): Promise<RunnerApiError> {
  try {
    await p;
  } catch (err) {
    errors.push(err);
    return err as RunnerApiError;
  }
  throw new Error('expected the call to fail');
}

const enqueue = () => admin.enqueue({ resource_class: RC, image: 'cimg/base:current', command: ['make'] });

async function claimOne() {
  const out = await api.claim(RC_TOKEN, RUNNER);
  if (out.kind !== 'task') throw new Error('expected a task');
  tokens.add(out.claim.task_token);
  return out.claim;
}

describe('HttpRunnerApi against the simulator', () => {
  it('claims, reads the config, unclaims, reclaims and fails a task', async () => {
    const taskId = await enqueue();
    const first = await claimOne();
    expect(first.resource_class).toBe(RC);

    const config = await api.taskConfig(first.task_token);
    expect(config.task_id).toBe(taskId);
    expect(config.containers[0]?.image).toBe('cimg/base:current');
    expect(config.containers[0]?.command).toEqual(['make']);

    expect(await api.unclaim(taskId, first.task_token)).toBe('released');
    // The old claim is gone: its token no longer reads the config.
    const stale = await rejection(api.taskConfig(first.task_token));
    expect(stale).toBeInstanceOf(RunnerApiAuthError);

    const second = await claimOne();
    expect(second.task_token).not.toBe(first.task_token);
    const at = new Date('2025-03-04T05:06:07.890Z');
    await api.fail(second.task_token, {
      allocation: second.allocation,
      message: 'pod evicted: node lost',
      at,
    });

    const task = await admin.task(taskId);
    expect(task.state).toBe('failed');
    expect(task.history.map((e) => e.type)).toEqual([
      'queued',
      'claimed',
      'config-fetched',
      'unclaimed',
      'claimed',
      'failed',
    ]);
    expect(task.history.at(-1)).toMatchObject({
      type: 'failed',
      source: 'fail-event',
      message: 'pod evicted: node lost',
      allocation: second.allocation,
      timestamp: at.getTime(),
    });
    expect(task.history[1]).toMatchObject({ type: 'claimed', runner: RUNNER });
  });

  it('answers no-work when nothing is queued', async () => {
    expect(await api.claim(RC_TOKEN, RUNNER)).toEqual({ kind: 'no-work' });
  });

  it('reports a cancelled task on unclaim as gone', async () => {
    const taskId = await enqueue();
    const claim = await claimOne();
    await admin.cancel(taskId);
    expect(await api.unclaim(taskId, claim.task_token)).toBe('gone');
  });

  it('reports retries exhausted after three unclaims, and the task can still be failed', async () => {
    const taskId = await enqueue();
    for (let i = 0; i < 3; i++) {
      expect(await api.unclaim(taskId, (await claimOne()).task_token)).toBe('released');
    }
    const last = await claimOne();
    expect(await api.unclaim(taskId, last.task_token)).toBe('retries-exhausted');
    await api.fail(last.task_token, { allocation: last.allocation, message: 'retries exhausted' });
    expect((await admin.task(taskId)).state).toBe('failed');
  });

  it('raises RunnerApiAuthError for a token the API does not know', async () => {
    await enqueue();
    const err = await rejection(api.claim(OTHER_TOKEN, RUNNER));
    expect(err).toBeInstanceOf(RunnerApiAuthError);
    expect(err).toMatchObject({ name: 'RunnerApiAuthError', status: 403, endpoint: 'claim' });
    expect(err.message).toContain('POST /api/v3/runner/claim: HTTP 403');
    expect(isRetryable(err)).toBe(false);
  });

  it('raises a plain RunnerApiError for other refusals: fail for a completed task (409), unclaim naming another task (400)', async () => {
    const taskId = await enqueue();
    const claim = await claimOne();
    await admin.report(taskId, claim.task_token, 'succeeded');
    const conflict = await rejection(
      api.fail(claim.task_token, { allocation: claim.allocation, message: 'x' }),
    );
    expect(conflict).not.toBeInstanceOf(RunnerApiAuthError);
    expect(conflict).toMatchObject({ name: 'RunnerApiError', status: 409, endpoint: 'fail' });
    expect(isRetryable(conflict)).toBe(false);

    await enqueue();
    const other = await claimOne();
    const bad = await rejection(api.unclaim('not-this-task', other.task_token));
    expect(bad).toMatchObject({ name: 'RunnerApiError', status: 400, endpoint: 'unclaim' });
    expect(isRetryable(bad)).toBe(false);
  });

  it('takes a fail event for an allocation the token does not hold as a claim that is gone (404)', async () => {
    const taskId = await enqueue();
    const claim = await claimOne();
    const err = await rejection(api.fail(claim.task_token, { allocation: 'not-mine', message: 'x' }));
    expect(err).toBeInstanceOf(RunnerApiAuthError);
    expect(err).toMatchObject({ status: 404, endpoint: 'fail' });
    expect((await admin.task(taskId)).state).toBe('claimed');
  });

  it('raises RunnerApiMalformedResponseError for every kind of garbage body, and it is retryable', async () => {
    await enqueue();
    await admin.setFaults([{ endpoint: 'claim', kind: 'garbage', times: 4 }]);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const err = await rejection(api.claim(RC_TOKEN, RUNNER));
      expect(err).toBeInstanceOf(RunnerApiMalformedResponseError);
      expect(err).toMatchObject({ status: 200, endpoint: 'claim' });
      expect(isRetryable(err)).toBe(true);
      seen.add(err.message);
    }
    expect(seen.size).toBe(4);
    // The faulted calls changed nothing: the task is still there for the next claim.
    expect((await api.claim(RC_TOKEN, RUNNER)).kind).toBe('task');
  });

  it('reads Retry-After from a 429', async () => {
    await admin.setFaults([{ endpoint: 'taskConfig', kind: 'rate-limit', retry_after_s: 2 }]);
    await enqueue();
    const claim = await claimOne();
    const err = await rejection(api.taskConfig(claim.task_token));
    expect(err).toMatchObject({ name: 'RunnerApiError', status: 429, retryAfterMs: 2_000 });
    expect(isRetryable(err)).toBe(true);
  });

  it('treats a 503 as retryable', async () => {
    await admin.setFaults([{ endpoint: 'unclaim', kind: 'status', status: 503, times: 1 }]);
    const taskId = await enqueue();
    const claim = await claimOne();
    const err = await rejection(api.unclaim(taskId, claim.task_token));
    expect(err).toMatchObject({ name: 'RunnerApiError', status: 503, endpoint: 'unclaim', timeout: false });
    expect(isRetryable(err)).toBe(true);
    // The next try goes through.
    expect(await api.unclaim(taskId, claim.task_token)).toBe('released');
  });

  it('gives up after timeoutMs with a retryable timeout error', async () => {
    await admin.setFaults([{ endpoint: 'claim', kind: 'latency', ms: 5_000 }]);
    const quick = new HttpRunnerApi({ baseUrl: sim.url, timeoutMs: 100 });
    const err = await rejection(quick.claim(RC_TOKEN, RUNNER));
    expect(err).toMatchObject({ name: 'RunnerApiError', status: 0, timeout: true, endpoint: 'claim' });
    expect(err.cause).toBeDefined();
    expect(err.message).toContain('no answer within 100 ms');
    expect(isRetryable(err)).toBe(true);
  });

  it('reports an unreachable API as a retryable error without a status', async () => {
    const url = sim.url;
    await sim.close();
    const gone = new HttpRunnerApi({ baseUrl: url, timeoutMs: 2_000 });
    const err = await rejection(gone.claim(RC_TOKEN, RUNNER));
    expect(err).toMatchObject({ name: 'RunnerApiError', status: 0, timeout: false });
    expect(err.message).toMatch(/no answer \(ECONNREFUSED\)/);
    expect(isRetryable(err)).toBe(true);
  });

  it('takes a task token the API never issued as a claim that is gone, on every task-scoped call', async () => {
    const taskId = await enqueue();
    await claimOne();
    const forged = `task-tok-${randomBytes(8).toString('hex')}`;
    tokens.add(forged);
    expect(await rejection(api.taskConfig(forged))).toMatchObject({
      name: 'RunnerApiAuthError',
      status: 404,
    });
    expect(await api.unclaim(taskId, forged)).toBe('gone');
    expect(await rejection(api.fail(forged, { allocation: 'a', message: 'm' }))).toMatchObject({
      name: 'RunnerApiAuthError',
      status: 404,
    });
    expect((await admin.task(taskId)).state).toBe('claimed');
  });
});
