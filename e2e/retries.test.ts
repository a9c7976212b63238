// Unsafe retries (the seeds' "Unsafe retries"): an interrupted task is released for another
// attempt up to 3 times when its class allows it, then failed; without them it fails at
// once. The simulator's history is the judge; the bus carries each decision.

import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const count = (t: { history: { type: string }[] }, type: string) =>
  t.history.filter((e) => e.type === type).length;

describe('unsafe retries', () => {
  it('retries an evicted task up to 3 times from scratch, then fails it', async () => {
    fleet = await Fleet.start({
      classes: { 'e2e/spot': { token: 'tok-spot-retries1', enableUnsafeRetries: true } },
    });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const id = await fleet.admin.enqueue({ resource_class: 'e2e/spot', image: 'fate.test/evict:300ms' });
    const [task] = await fleet.waitForTasksEnded([id], 120_000);
    expect(task!.state).toBe('failed');
    expect(count(task!, 'claimed')).toBe(4);
    expect(count(task!, 'unclaimed')).toBe(3);
    expect(task!.history.at(-1)).toMatchObject({
      type: 'failed',
      message: expect.stringContaining('low on resource'),
    });

    const interrupted = fleet.events$('task.interrupted').filter((e) => e.payload.task_id === id);
    expect(interrupted.map((e) => [e.payload.attempt, e.payload.to_retry])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
    ]);
    expect(interrupted.every((e) => e.payload.reason === 'evicted')).toBe(true);
    expect(fleet.events$('task.released').filter((e) => e.payload.task_id === id)).toHaveLength(3);
    // Each attempt ran in a pod of its own, all gone now.
    const scheduled = fleet.events$('task.scheduled').filter((e) => e.payload.task_id === id);
    expect(new Set(scheduled.map((e) => e.payload.pod)).size).toBe(4);
    await fleet.waitFor('no task pod or Secret left', async () => {
      const o = await fleet!.taskObjects();
      return o.pods.length + o.secrets.length === 0 ? true : undefined;
    });
  });

  it('fails an evicted task at once when its class does not allow unsafe retries', async () => {
    fleet = await Fleet.start({ classes: { 'e2e/plain': { token: 'tok-plain-retries' } } });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const id = await fleet.admin.enqueue({ resource_class: 'e2e/plain', image: 'fate.test/evict:300ms' });
    const [task] = await fleet.waitForTasksEnded([id]);
    expect(task!.state).toBe('failed');
    expect(count(task!, 'claimed')).toBe(1);
    expect(count(task!, 'unclaimed')).toBe(0);
    expect(task!.history.at(-1)).toMatchObject({
      type: 'failed',
      message: expect.stringContaining('low on resource'),
    });
    const interrupted = fleet.events$('task.interrupted').filter((e) => e.payload.task_id === id);
    expect(interrupted.map((e) => e.payload.to_retry)).toEqual([false]);
  });

  it('retries a task whose pod was deleted from outside, and it then completes', async () => {
    fleet = await Fleet.start({
      classes: { 'e2e/spot': { token: 'tok-spot-retries2', enableUnsafeRetries: true } },
    });
    fleet.spawn('scheduler');
    fleet.spawn('claimer');
    const id = await fleet.admin.enqueue({ resource_class: 'e2e/spot', image: 'fate.test/succeed:3s' });
    const running = await fleet.waitFor('the first attempt to run', () =>
      fleet!.events$('task.running').find((e) => e.payload.task_id === id),
    );
    await fleet.kube.core.deleteNamespacedPod({
      name: String(running.payload.pod),
      namespace: fleet.ns.name,
    });
    const [task] = await fleet.waitForTasksEnded([id]);
    expect(task!.state).toBe('completed');
    expect(count(task!, 'claimed')).toBe(2);
    const interrupted = fleet.events$('task.interrupted').filter((e) => e.payload.task_id === id);
    expect(interrupted.map((e) => [e.payload.reason, e.payload.to_retry])).toEqual([['deleted', true]]);
  });
});
