// Crash safety and draining, judged by the simulator's history and the apiserver: kill -9
// either service mid-run and restart it, and nothing is lost, claimed twice or run twice;
// SIGTERM stops claiming at once and lets in-flight tasks finish. No token ever shows up
// in a log line or on the bus.
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const CLASSES = { 'e2e/a': { token: 'tok-a-resilience-1' }, 'e2e/b': { token: 'tok-b-resilience-1' } };

async function enqueue(f: Fleet, perClass: number, image: string): Promise<string[]> {
  return [
    ...(await f.admin.enqueueMany({ resource_class: 'e2e/a', image }, perClass)),
    ...(await f.admin.enqueueMany({ resource_class: 'e2e/b', image }, perClass)),
  ];
}

async function expectEachRanOnce(f: Fleet, ids: string[]) {
  const tasks = await f.waitForTasksEnded(ids, 60_000);
  expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
  // A claim whose answer died with the killed claimer is requeued by the API's claim lease
  // (no runner ever held it); every other claim is the only one its task got.
  const effective = (t: (typeof tasks)[number]) =>
    t.history.filter((e) => e.type === 'claimed').length -
    t.history.filter((e) => e.type === 'claim-expired').length;
  expect(tasks.map(effective)).toEqual(ids.map(() => 1));
  // One attempt per task, so one pod per task: names derive from task id and attempt.
  const attempts = new Set(
    f.events$('task.scheduled').map((e) => `${e.payload.task_id}#${e.payload.attempt}`),
  );
  expect(attempts.size).toBe(ids.length);
  await f.waitFor('no task pod or Secret left', async () => {
    const o = await f.taskObjects();
    return o.pods.length + o.secrets.length === 0 ? true : undefined;
  });
}

describe('crash safety', () => {
  it('survives kill -9 of the claimer mid-run: no task lost, none claimed twice', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 8 });
    const tokens = fleet.watchTaskTokens();
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const ids = await enqueue(fleet, 12, 'fate.test/succeed:1s');
    await fleet.waitFor('some claims', () => (fleet!.events$('task.claimed').length >= 6 ? true : undefined));
    await fleet.kill('claimer');
    await sleep(1_500);
    fleet.spawn('claimer');
    await expectEachRanOnce(fleet, ids);
    await tokens.stop();
    expect(tokens.seen.size).toBeGreaterThan(0);
    fleet.expectNoSecrets(tokens.seen);
  });

  it('survives kill -9 of the scheduler mid-run: no task lost, no duplicate pod', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 8 });
    const tokens = fleet.watchTaskTokens();
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const ids = await enqueue(fleet, 12, 'fate.test/succeed:1s');
    await fleet.waitFor('some pods', () => (fleet!.events$('task.scheduled').length >= 6 ? true : undefined));
    await fleet.kill('scheduler');
    await sleep(2_500);
    fleet.spawn('scheduler');
    await expectEachRanOnce(fleet, ids);
    await tokens.stop();
    fleet.expectNoSecrets(tokens.seen);
  });
});

describe('draining', () => {
  it('on SIGTERM claims nothing more, lets in-flight tasks finish, and exits 0', async () => {
    fleet = await Fleet.start({
      classes: CLASSES,
      maxConcurrentTasks: 4,
      agent: { terminationGracePeriodSeconds: 60 },
    });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const ids = await enqueue(fleet, 6, 'fate.test/succeed:2s');
    await fleet.waitFor('four claims', () => (fleet!.events$('task.claimed').length >= 4 ? true : undefined));
    const signalledAt = new Date().toISOString();
    const code = await fleet.kill('claimer', 'SIGTERM');
    expect(code).toBe(0);
    const tasks = await Promise.all(ids.map((id) => fleet!.admin.task(id)));
    const claimed = tasks.filter((t) => t.history.some((e) => e.type === 'claimed'));
    expect(claimed.length).toBeGreaterThanOrEqual(4);
    expect(claimed.length).toBeLessThan(ids.length);
    // Every claimed task finished before the claimer exited, and none was claimed after the signal.
    expect(claimed.map((t) => t.state)).toEqual(claimed.map(() => 'completed'));
    const lastClaim = claimed
      .flatMap((t) => t.history.filter((e) => e.type === 'claimed').map((e) => e.at))
      .sort()
      .at(-1)!;
    expect(lastClaim < signalledAt).toBe(true);
    expect(tasks.filter((t) => t.state === 'queued')).toHaveLength(ids.length - claimed.length);
  });
});
