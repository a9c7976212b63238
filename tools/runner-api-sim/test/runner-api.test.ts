// The Runner API over real HTTP, as a runner sees it: every endpoint and every rule.
import { ClaimResponse, RunningCount, TaskConfig, UnclaimedCount } from '@longshore/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSim, SimAdminClient, startSim } from '../src/index.ts';
import {
  bearer,
  claim,
  claimTask,
  fail,
  failEvent,
  RUNNER,
  runningCount,
  taskConfig,
  taskIdOf,
  unclaim,
  unclaimedCount,
} from './runner-calls.ts';

const RC = 'acme/small';
const RC_TOKEN = 'rc-token-small';
const API = { 'circle-token': 'api-token' };

let sim: RunningSim;
let admin: SimAdminClient;

beforeEach(async () => {
  sim = await startSim({
    classes: { [RC]: [RC_TOKEN, 'rc-token-small-2'], 'acme/big': ['rc-token-big'] },
    apiToken: 'api-token',
  });
  admin = new SimAdminClient(sim.url);
});

afterEach(async () => {
  await sim.close();
});

const enqueue = (overrides: Record<string, unknown> = {}) =>
  admin.enqueue({ resource_class: RC, image: 'cimg/base:current', ...overrides });

describe('POST /api/v3/runner/claim', () => {
  it('answers 401 without a bearer token and 403 with an unknown one', async () => {
    await enqueue();
    expect((await claim(sim.url, {})).status).toBe(401);
    expect((await claim(sim.url, { authorization: `Basic ${RC_TOKEN}` })).status).toBe(401);
    expect((await claim(sim.url, bearer('not-a-token'))).status).toBe(403);
    expect((await admin.listTasks({ state: 'queued' })).length).toBe(1);
  });

  it('answers 204 with an empty body when the queue is empty', async () => {
    const answer = await claim(sim.url, bearer(RC_TOKEN));
    expect(answer.status).toBe(204);
    expect(answer.text).toBe('');
  });

  it('hands out a queued task with a task token and allocation, and records the runner', async () => {
    const id = await enqueue();
    const answer = await claim(sim.url, bearer('rc-token-small-2'));

    expect(answer.status).toBe(200);
    const claimed = ClaimResponse.parse(answer.json);
    expect(claimed.resource_class).toBe(RC);
    const task = await admin.task(id);
    expect(task.state).toBe('claimed');
    expect(task.history.at(-1)).toMatchObject({
      type: 'claimed',
      runner: { name: RUNNER.name, hostname: RUNNER.hostname },
      allocation: claimed.allocation,
    });
  });

  it('answers 400 naming the fields of a bad body', async () => {
    const answer = await claim(sim.url, bearer(RC_TOKEN), { name: 'r' });
    expect(answer.status).toBe(400);
    expect((answer.json as { message: string }).message).toMatch(/hostname/);
  });

  it('never gives one task to two runners, however many claim at once', async () => {
    const ids = await admin.enqueueMany({ resource_class: RC, image: 'cimg/base:current' }, 25);
    const answers = await Promise.all(Array.from({ length: 120 }, () => claim(sim.url, bearer(RC_TOKEN))));

    const claims = answers.filter((a) => a.status === 200).map((a) => ClaimResponse.parse(a.json));
    expect(claims).toHaveLength(25);
    expect(answers.filter((a) => a.status === 204)).toHaveLength(95);
    const claimedIds = await Promise.all(claims.map((c) => taskIdOf(sim.url, c)));
    expect(new Set(claimedIds)).toEqual(new Set(ids));
    for (const id of ids) {
      const task = await admin.task(id);
      expect(task.history.filter((e) => e.type === 'claimed')).toHaveLength(1);
    }
  });
});

describe('GET /api/v2/task/config', () => {
  it('returns the claimed task’s config with the primary container first', async () => {
    const id = await enqueue({
      environment: { CI: 'true' },
      command: ['bash', '-c', 'make test'],
      job_name: 'test',
      service_containers: [{ image: 'redis:7', name: 'redis', environment: { R: '1' } }],
    });
    const claimed = await claimTask(sim.url, RC_TOKEN);
    const answer = await taskConfig(sim.url, bearer(claimed.task_token));

    expect(answer.status).toBe(200);
    const config = TaskConfig.parse(answer.json);
    expect(config).toMatchObject({
      task_id: id,
      resource_class: RC,
      job_name: 'test',
    });
    expect(config.containers).toEqual([
      { image: 'cimg/base:current', command: ['bash', '-c', 'make test'], environment: { CI: 'true' } },
      { image: 'redis:7', name: 'redis', environment: { R: '1' } },
    ]);
    expect((await admin.task(id)).history.map((e) => e.type)).toContain('config-fetched');
  });

  it('answers 404 without a token, with an unknown one, one that was unclaimed, or one whose task ended', async () => {
    const id = await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    expect((await unclaim(sim.url, { task_id: id, task_token: claimed.task_token })).status).toBe(200);

    expect((await taskConfig(sim.url, {})).status).toBe(404);
    expect((await taskConfig(sim.url, { authorization: 'Basic x' })).status).toBe(404);
    expect((await taskConfig(sim.url, bearer('nope'))).status).toBe(404);
    expect((await taskConfig(sim.url, bearer(claimed.task_token))).status).toBe(404);
    const again = await claimTask(sim.url, RC_TOKEN);
    await admin.report(id, again.task_token, 'succeeded');
    expect((await taskConfig(sim.url, bearer(again.task_token))).status).toBe(404);
  });
});

describe('POST /api/v3/runner/unclaim', () => {
  it('puts the task back first in line and invalidates the old token', async () => {
    const first = await enqueue();
    await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);

    const answer = await unclaim(sim.url, { task_id: first, task_token: claimed.task_token });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({});
    const again = await claimTask(sim.url, RC_TOKEN);
    expect(await taskIdOf(sim.url, again)).toBe(first);
    expect((await admin.task(first)).history.map((e) => e.type)).toEqual([
      'queued',
      'claimed',
      'unclaimed',
      'claimed',
      'config-fetched',
    ]);
    expect((await unclaim(sim.url, { task_id: first, task_token: claimed.task_token })).status).toBe(404);
  });

  it('answers 404 without the task token as bearer or with one it does not know, whatever the body holds', async () => {
    const id = await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    const body = { task_id: id, task_token: claimed.task_token };
    expect((await unclaim(sim.url, body, {})).status).toBe(404);
    expect((await unclaim(sim.url, body, { authorization: claimed.task_token })).status).toBe(404);
    expect((await unclaim(sim.url, body, bearer('guess'))).status).toBe(404);
    expect((await unclaim(sim.url, { task_id: id, task_token: 'guess' })).status).toBe(404);
    expect((await admin.task(id)).state).toBe('claimed');
  });

  it('answers 400 when task_id is not the task of the bearer token, leaving it claimed', async () => {
    const id = await enqueue();
    const other = await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    await claimTask(sim.url, RC_TOKEN);
    for (const taskId of [other, 'no-such-task']) {
      expect((await unclaim(sim.url, { task_id: taskId, task_token: claimed.task_token })).status).toBe(400);
    }
    expect(await admin.task(id)).toMatchObject({ state: 'claimed', unclaims: 0 });
    expect(await admin.task(other)).toMatchObject({ state: 'claimed', unclaims: 0 });
  });

  it('answers 404 for a cancelled task', async () => {
    const id = await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    await admin.cancel(id);

    expect((await unclaim(sim.url, { task_id: id, task_token: claimed.task_token })).status).toBe(404);
    expect((await admin.task(id)).history.at(-1)).toMatchObject({ type: 'unclaim-rejected', status: 404 });
  });

  it('answers 409 once the task was unclaimed 3 times, leaving it claimed', async () => {
    const id = await enqueue();
    for (let i = 0; i < 3; i++) {
      const claimed = await claimTask(sim.url, RC_TOKEN);
      expect((await unclaim(sim.url, { task_id: id, task_token: claimed.task_token })).status).toBe(200);
    }
    const last = await claimTask(sim.url, RC_TOKEN);

    expect((await unclaim(sim.url, { task_id: id, task_token: last.task_token })).status).toBe(409);
    const task = await admin.task(id);
    expect(task).toMatchObject({ state: 'claimed', claims: 4, unclaims: 3 });
    expect(task.history.at(-1)).toMatchObject({ type: 'unclaim-rejected', status: 409 });
  });

  it('answers 400 to a body without the task token', async () => {
    await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    const answer = await unclaim(sim.url, { task_id: 'x' }, bearer(claimed.task_token));
    expect(answer.status).toBe(400);
    expect((answer.json as { message: string }).message).toMatch(/task_token/);
  });
});

describe('POST /api/v2/task/event/fail', () => {
  it('fails the task and records the decoded message', async () => {
    const id = await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);

    const answer = await fail(
      sim.url,
      bearer(claimed.task_token),
      failEvent(claimed.allocation, 'Pod evicted: node ran out of memory ✗'),
    );
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({});
    const task = await admin.task(id);
    expect(task.state).toBe('failed');
    expect(task.history.at(-1)).toMatchObject({
      type: 'failed',
      message: 'Pod evicted: node ran out of memory ✗',
      allocation: claimed.allocation,
    });
  });

  it('answers 404 when the allocation is not the token’s claim’s', async () => {
    const id = await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    expect((await fail(sim.url, bearer(claimed.task_token), failEvent('other-allocation', 'x'))).status).toBe(
      404,
    );
    expect((await admin.task(id)).state).toBe('claimed');
  });

  it('answers 404, 404 and 400 for a missing token, an unknown token and a bad message', async () => {
    await enqueue();
    const claimed = await claimTask(sim.url, RC_TOKEN);
    const event = failEvent(claimed.allocation, 'x');
    expect((await fail(sim.url, {}, event)).status).toBe(404);
    expect((await fail(sim.url, bearer('nope'), event)).status).toBe(404);
    const bad = await fail(sim.url, bearer(claimed.task_token), { ...event, message: 'not base64!' });
    expect(bad.status).toBe(400);
    expect((bad.json as { message: string }).message).toMatch(/message/);
  });
});

describe('GET /api/v3/runner/tasks and /tasks/running', () => {
  it('counts queued and running tasks of a class', async () => {
    await admin.enqueueMany({ resource_class: RC, image: 'cimg/base:current' }, 3);
    await admin.enqueue({ resource_class: 'acme/big', image: 'cimg/base:current' });
    await claimTask(sim.url, RC_TOKEN);

    expect(UnclaimedCount.parse((await unclaimedCount(sim.url, API, RC)).json)).toEqual({
      unclaimed_task_count: 2,
    });
    expect(RunningCount.parse((await runningCount(sim.url, API, RC)).json)).toEqual({
      running_runner_tasks: 1,
    });
    expect((await unclaimedCount(sim.url, API, 'acme/big')).json).toEqual({ unclaimed_task_count: 1 });
    expect((await runningCount(sim.url, API, 'acme/big')).json).toEqual({ running_runner_tasks: 0 });
  });

  it('counts an unknown class as empty', async () => {
    expect((await unclaimedCount(sim.url, API, 'who/knows')).json).toEqual({ unclaimed_task_count: 0 });
    expect((await runningCount(sim.url, API, 'who/knows')).json).toEqual({ running_runner_tasks: 0 });
  });

  it('answers 401 without a Circle-Token, 403 with a wrong one, 400 without a class', async () => {
    for (const count of [unclaimedCount, runningCount]) {
      expect((await count(sim.url, {}, RC)).status).toBe(401);
      expect((await count(sim.url, { 'circle-token': 'wrong' }, RC)).status).toBe(403);
      expect((await count(sim.url, bearer(RC_TOKEN), RC)).status).toBe(401);
      expect((await count(sim.url, API)).status).toBe(400);
    }
  });
});
