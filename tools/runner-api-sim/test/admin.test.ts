// The admin API over real HTTP: how tests, benchmarks and compose users drive the simulator.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningSim, SimAdminClient, SimAdminError, startSim } from '../src/index.ts';
import {
  bearer,
  call,
  claim,
  claimTask,
  RUNNER,
  taskConfig,
  unclaim,
  unclaimedCount,
} from './runner-calls.ts';

const RC = 'acme/small';
const TOKEN = 'secret-rc-token';
const API_TOKEN = 'secret-api-token';
const IMAGE = 'cimg/base:current';

let sim: RunningSim;
let admin: SimAdminClient;

beforeEach(async () => {
  sim = await startSim({ classes: { [RC]: [TOKEN] }, apiToken: API_TOKEN });
  admin = new SimAdminClient(sim.url);
});

afterEach(async () => {
  await sim.close();
});

describe('admin API', () => {
  it('answers the health probes', async () => {
    expect((await call(sim.url, '/livez')).status).toBe(200);
    expect((await call(sim.url, '/readyz')).status).toBe(200);
  });

  it('registers classes whose tokens then claim, without echoing any token', async () => {
    const registered = await call(sim.url, '/sim/resource-classes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'acme/gpu', tokens: ['gpu-token-1', 'gpu-token-2'] }),
    });
    await admin.enqueue({ resource_class: 'acme/gpu', image: IMAGE });

    expect(registered.status).toBe(200);
    expect(registered.text).not.toContain('gpu-token');
    expect(await admin.resourceClasses()).toEqual([RC, 'acme/gpu']);
    expect((await claim(sim.url, bearer('gpu-token-2'))).status).toBe(200);
    const everything = JSON.stringify([await admin.listTasks(), await admin.stats(), await admin.faults()]);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(API_TOKEN);
  });

  it('refuses a token already used by another class and a malformed class name', async () => {
    await expect(admin.registerClass('acme/other', [TOKEN])).rejects.toMatchObject({ status: 409 });
    await expect(admin.registerClass('no-namespace', ['t'])).rejects.toMatchObject({ status: 400 });
  });

  it('changes the API token the count endpoints accept', async () => {
    await admin.setApiToken('rotated');
    expect((await unclaimedCount(sim.url, { 'circle-token': API_TOKEN }, RC)).status).toBe(403);
    expect((await unclaimedCount(sim.url, { 'circle-token': 'rotated' }, RC)).status).toBe(200);
  });

  it('enqueues many identical tasks at once', async () => {
    const ids = await admin.enqueueMany({ resource_class: RC, image: IMAGE, expect: 'succeeds' }, 1000);
    expect(new Set(ids).size).toBe(1000);
    expect((await unclaimedCount(sim.url, { 'circle-token': API_TOKEN }, RC)).json).toEqual({
      unclaimed_task_count: 1000,
    });
    expect((await admin.task(ids[999]!)).expect).toBe('succeeds');
  });

  it('answers 400 naming the field of a bad task, and 404 for an unregistered class', async () => {
    const bad = admin.enqueue({ resource_class: RC, image: '' });
    await expect(bad).rejects.toBeInstanceOf(SimAdminError);
    await expect(bad).rejects.toMatchObject({ status: 400, message: expect.stringContaining('image') });
    await expect(admin.enqueue({ resource_class: 'acme/typo', image: IMAGE })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('lists tasks filtered by class and state', async () => {
    await admin.registerClass('acme/big', ['big-token']);
    const [first] = await admin.enqueueMany({ resource_class: RC, image: IMAGE }, 2);
    await admin.enqueue({ resource_class: 'acme/big', image: 'ubuntu:24.04' });
    await claimTask(sim.url, TOKEN);

    expect(await admin.listTasks({ resource_class: RC })).toHaveLength(2);
    expect(await admin.listTasks({ state: 'claimed' })).toEqual([
      { id: first, resource_class: RC, state: 'claimed', claims: 1, unclaims: 0, image: IMAGE },
    ]);
    expect((await call(sim.url, '/sim/tasks?state=bogus')).status).toBe(400);
  });

  it('tells a task’s whole story in order, without task tokens', async () => {
    const id = await admin.enqueue({ resource_class: RC, image: IMAGE });
    const first = await claimTask(sim.url, TOKEN);
    await taskConfig(sim.url, bearer(first.task_token));
    await unclaim(sim.url, { task_id: id, task_token: first.task_token });
    const second = await claimTask(sim.url, TOKEN);
    await admin.report(id, second.task_token, 'failed', 'exit status 2');

    const task = await admin.task(id);
    expect(task).toMatchObject({ state: 'failed', claims: 2, unclaims: 1, allocation: second.allocation });
    expect(task.history).toEqual([
      { type: 'queued', at: expect.any(String) },
      { type: 'claimed', at: expect.any(String), runner: RUNNER, allocation: first.allocation },
      { type: 'config-fetched', at: expect.any(String), allocation: first.allocation },
      { type: 'unclaimed', at: expect.any(String), allocation: first.allocation, unclaims: 1 },
      { type: 'claimed', at: expect.any(String), runner: RUNNER, allocation: second.allocation },
      {
        type: 'failed',
        at: expect.any(String),
        allocation: second.allocation,
        message: 'exit status 2',
        source: 'report',
      },
    ]);
    for (const event of task.history) expect(Number.isNaN(Date.parse(event.at))).toBe(false);
    const text = JSON.stringify(task);
    expect(text).not.toContain(first.task_token);
    expect(text).not.toContain(second.task_token);
  });

  it('completes a task on the agent’s report, with the current task token only', async () => {
    const id = await admin.enqueue({ resource_class: RC, image: IMAGE });
    const claimed = await claimTask(sim.url, TOKEN);

    await expect(admin.report(id, 'not-the-token', 'succeeded')).rejects.toMatchObject({ status: 403 });
    await admin.report(id, claimed.task_token, 'succeeded');
    expect((await admin.task(id)).state).toBe('completed');
    expect((await admin.task(id)).history.at(-1)).toMatchObject({ type: 'completed' });
  });

  it('lets an in-process reporter complete a task through the state', async () => {
    const id = await admin.enqueue({ resource_class: RC, image: IMAGE });
    const claimed = await claimTask(sim.url, TOKEN);

    expect(sim.state.report(id, claimed.task_token, 'succeeded')).toEqual({ ok: true });
    expect((await admin.task(id)).state).toBe('completed');
  });

  it('cancels a queued task so that no runner gets it', async () => {
    const id = await admin.enqueue({ resource_class: RC, image: IMAGE });
    await admin.cancel(id);

    expect((await claim(sim.url, bearer(TOKEN))).status).toBe(204);
    expect((await admin.task(id)).history.at(-1)).toMatchObject({ type: 'cancelled', from: 'queued' });
  });

  it('answers 404 for an unknown task', async () => {
    await expect(admin.task('nope')).rejects.toMatchObject({ status: 404 });
    await expect(admin.cancel('nope')).rejects.toMatchObject({ status: 404 });
  });

  it('counts Runner API requests per endpoint and status, and tasks per state', async () => {
    await admin.enqueue({ resource_class: RC, image: IMAGE });
    const claimed = await claimTask(sim.url, TOKEN);
    await claim(sim.url, bearer(TOKEN));
    await claim(sim.url, {});
    await taskConfig(sim.url, bearer(claimed.task_token));

    const stats = await admin.stats();
    expect(stats.requests).toEqual({ claim: { '200': 1, '204': 1, '401': 1 }, taskConfig: { '200': 1 } });
    expect(stats.total_runner_api_requests).toBe(4);
    expect(stats.tasks).toMatchObject({ queued: 0, claimed: 1 });
  });

  it('reset forgets tasks, faults and stats but keeps classes and the API token', async () => {
    await admin.enqueue({ resource_class: RC, image: IMAGE });
    await admin.setFaults([{ endpoint: 'taskConfig', kind: 'garbage' }]);
    await claim(sim.url, bearer(TOKEN));
    await admin.reset();

    expect(await admin.listTasks()).toEqual([]);
    expect(await admin.faults()).toEqual([]);
    expect((await admin.stats()).total_runner_api_requests).toBe(0);
    await admin.enqueue({ resource_class: RC, image: IMAGE });
    expect((await claim(sim.url, bearer(TOKEN))).status).toBe(200);
    expect((await unclaimedCount(sim.url, { 'circle-token': API_TOKEN }, RC)).status).toBe(200);
  });
});
