// The Runner API as CircleCI's own code shows it (circleci/runner-init: its orchestrator's
// client and its fake Runner API), end to end: the simulator answers as that fake does,
// and the claimer copes. A class whose token the API refuses is shown so in `longshore
// status` and claims again once the token is known, while other classes run; an unclaim
// carries the task token as bearer (the simulator refuses one without); a task config that
// never validates is failed after its few tries, and it and a claim answer that cannot be
// read show on their class in `longshore status`. No token in any log, bus message or status.

import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetStatus } from './status.ts';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const QUICK = 'fate.test/succeed:300ms';

/** `longshore status` of one class, and all it printed. */
async function statusOf(f: Fleet, rc: string) {
  const { classes, printed } = await fleetStatus(f);
  return { row: classes.find((c) => c.resource_class === rc), printed };
}

describe('Runner API conformance', () => {
  it('shows a class whose token is refused as such in status, runs the other classes, and claims once the token is known', async () => {
    const GOOD = 'e2e/good';
    const BAD = 'e2e/bad';
    const badToken = 'tok-bad-conform-0001';
    fleet = await Fleet.start({
      classes: { [GOOD]: { token: 'tok-good-conform-001' }, [BAD]: { token: badToken, registered: false } },
      maxConcurrentTasks: 4,
    });
    const f = fleet;
    const tokens = f.watchTaskTokens();
    f.spawn('scheduler');
    f.spawn('claimer');
    const waiting = await f.admin.enqueue({ resource_class: BAD, image: QUICK });
    const good = await f.admin.enqueueMany({ resource_class: GOOD, image: QUICK }, 3);

    const tasks = await f.waitForTasksEnded(good);
    expect(tasks.map((t) => t.state)).toEqual(good.map(() => 'completed'));
    const refused = await f.waitFor('status to show the token of e2e/bad refused', async () => {
      const s = await statusOf(f, BAD);
      return s.row?.token_refused ? s : undefined;
    });
    expect(refused.row?.token_refused).toMatchObject({
      reason: expect.stringMatching(/^POST \/api\/v3\/runner\/claim: HTTP 403/),
      claimers: 1,
    });
    expect((await statusOf(f, GOOD)).row).toMatchObject({ token_refused: null, claimers: 1 });
    expect((await f.admin.task(waiting)).state).toBe('queued');
    expect(f.logs.some((l) => l.includes('the Runner API refused the token of this resource class'))).toBe(
      true,
    );

    await f.admin.registerClass(BAD, [badToken]);
    const [ran] = await f.waitForTasksEnded([waiting], 90_000);
    expect(ran?.state).toBe('completed');
    const claiming = await f.waitFor('status to show e2e/bad claiming again', async () => {
      const s = await statusOf(f, BAD);
      return s.row?.token_refused === null ? s : undefined;
    });
    expect(f.procs.get('claimer')?.exitCode).toBeNull();
    await tokens.stop();
    f.expectNoSecrets(tokens.seen, [refused.printed, claiming.printed]);
  });

  it('gives a task back with its task token as bearer: the simulator takes no unclaim without one', async () => {
    const RC = 'e2e/spot';
    fleet = await Fleet.start({
      classes: { [RC]: { token: 'tok-spot-conform-01', enableUnsafeRetries: true } },
    });
    const f = fleet;
    f.spawn('scheduler');
    f.spawn('claimer');
    const id = await f.admin.enqueue({ resource_class: RC, image: 'fate.test/evict:300ms' });
    const task = await f.waitFor('the evicted task given back', async () => {
      const t = await f.admin.task(id);
      return t.history.some((e) => e.type === 'unclaimed') ? t : undefined;
    });
    expect(task.history.filter((e) => e.type === 'unclaim-rejected')).toEqual([]);
    await f.waitFor('task.released on the bus', () =>
      f.events$('task.released').some((e) => e.payload.task_id === id) ? true : undefined,
    );
    const stats = await f.admin.stats();
    expect(Object.keys(stats.requests.unclaim ?? {})).toEqual(['200']);
  });

  it('fails a task config that never validates after its tries, naming the field, and shows it and an unreadable claim answer on the class', async () => {
    const RC = 'e2e/h';
    fleet = await Fleet.start({ classes: { [RC]: { token: 'tok-h-conform-00001' } }, maxConcurrentTasks: 2 });
    const f = fleet;
    const tokens = f.watchTaskTokens();
    f.spawn('scheduler');
    f.spawn('claimer');
    const unreadable = await f.admin.enqueue({
      resource_class: RC,
      image: QUICK,
      config_override: { containers: 'nope, not containers' },
    });
    const good = await f.admin.enqueueMany({ resource_class: RC, image: QUICK }, 3);
    const tasks = await f.waitForTasksEnded([unreadable, ...good], 90_000);
    expect(tasks.map((t) => t.state)).toEqual(['failed', 'completed', 'completed', 'completed']);
    const history = tasks[0]!.history;
    // Tried three times (the smaller budget), then failed rather than given back.
    expect(history.filter((e) => e.type === 'config-fetched')).toHaveLength(3);
    expect(history.filter((e) => e.type === 'unclaimed')).toEqual([]);
    const message = history.find((e) => e.type === 'failed')?.message ?? '';
    expect(message).toMatch(/^Longshore could not run this task: /);
    expect(message).toMatch(/containers: .*expected array, received string/);
    expect(message).toMatch(/gave up after 3 tries/);
    expect(message).not.toContain('nope');

    const afterConfig = await f.waitFor('status to show the dropped config', async () => {
      const s = await statusOf(f, RC);
      return s.row?.dropped.config === 1 ? s : undefined;
    });
    expect(afterConfig.row?.last_drop).toMatchObject({
      stage: 'config',
      outcome: 'failed',
      error: expect.stringMatching(/containers: .*expected array, received string/),
    });
    expect(afterConfig.row?.last_drop?.error).not.toContain('nope');

    // A claim answer that does not parse: nothing can be told about it, but it is counted.
    const garbled = await f.admin.enqueue({
      resource_class: RC,
      image: QUICK,
      claim_override: { allocation: 42 },
    });
    const afterClaim = await f.waitFor('status to show the unreadable claim answer', async () => {
      const s = await statusOf(f, RC);
      return (s.row?.dropped.claim ?? 0) >= 1 ? s : undefined;
    });
    expect(afterClaim.row?.last_drop).toMatchObject({
      stage: 'claim',
      outcome: 'unreported',
      error: expect.stringMatching(/allocation: .*expected string, received number/),
    });
    expect(afterClaim.row?.token_refused).toBeNull();
    await f.admin.cancel(garbled);
    expect(f.procs.get('claimer')?.exitCode).toBeNull();
    await tokens.stop();
    f.expectNoSecrets(tokens.seen, [afterConfig.printed, afterClaim.printed]);
  });
});
