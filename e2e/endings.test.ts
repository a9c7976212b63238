// Container 0's exit code is not the task's outcome. Its process is CircleCI's orchestrator
// (circleci/runner-init), which exits 0 once the task's end was reported from inside the pod
// (the task agent reported the job, passed or failed, or the orchestrator failed the task or
// gave it back), and non-zero only when it could not report. The simulator plays the
// orchestrator so (tools/runner-api-sim, "Playing the task agent"); the runner must count
// and print no exit 0 as a success, and report the task of an orchestrator that exited
// non-zero. The simulator's history is the judge of what the Runner API was told.
import { formatEvent } from '@longshore/cli';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const RC = 'e2e/endings';
const ENDINGS = new Set(['task.reported', 'task.failed', 'task.interrupted']);
const count = (t: { history: { type: string }[] }, type: string) =>
  t.history.filter((e) => e.type === type).length;

describe('task endings as the orchestrator leaves them', () => {
  it('takes no exit 0 for a success, and reports the task of an orchestrator that exited non-zero', async () => {
    fleet = await Fleet.start({ classes: { [RC]: { token: 'tok-endings-00001' } }, maxConcurrentTasks: 4 });
    const f = fleet;
    f.spawn('scheduler');
    f.spawn('claimer');
    const enqueue = (fate: string) =>
      f.admin.enqueue({ resource_class: RC, image: `fate.test/${fate}:300ms` });
    const passed = await enqueue('succeed');
    const jobFailed = await enqueue('job-fail');
    const agentError = await enqueue('agent-error');
    const givenBack = await enqueue('agent-start-fail');
    const crashed = await enqueue('exit-1');
    const ids = [passed, jobFailed, agentError, givenBack, crashed];
    const [tPassed, tJob, tAgent, tBack, tCrashed] = await f.waitForTasksEnded(ids, 90_000);

    // What the Runner API was told, and by whom.
    expect(tPassed!.state).toBe('completed');
    expect(tJob!.history.filter((e) => e.type === 'failed')).toEqual([
      expect.objectContaining({ source: 'report', message: expect.stringContaining('job failed') }),
    ]);
    expect(tAgent!.history.filter((e) => e.type === 'failed')).toEqual([
      expect.objectContaining({ message: expect.stringContaining('task agent exited with an error') }),
    ]);
    // Given back by its orchestrator each time until the API refused a fourth unclaim, then
    // failed by it: the runner neither ran it as a success nor lost it.
    expect([count(tBack!, 'claimed'), count(tBack!, 'unclaimed')]).toEqual([4, 3]);
    expect(tBack!.history.at(-1)).toMatchObject({
      type: 'failed',
      message: expect.stringContaining('could not be started'),
    });
    expect(tCrashed!.history.filter((e) => e.type === 'failed')).toEqual([
      expect.objectContaining({
        source: 'fail-event',
        message: expect.stringContaining('exited with code 1 (Error): it could not report'),
      }),
    ]);
    // The runner's own calls (the simulator counts HTTP requests; its orchestrator calls in
    // process): one fail event, for the orchestrator that could not report, and no unclaim.
    // The simulator counts a request once its answer has gone out (onResponse), after that
    // fail event ended the task: a moment after the API knows it ended.
    const stats = await f.waitFor('the fail event counted', async () => {
      const s = await f.admin.stats();
      return (s.requests.fail?.['200'] ?? 0) >= 1 ? s : undefined;
    });
    expect(stats.requests.fail).toEqual({ '200': 1 });
    expect(stats.requests.unclaim).toBeUndefined();

    // On the bus: every exit 0 is `task.reported`, the non-zero exit an interruption.
    // One per task and attempt (a core subscriber may also see a publish the stream dropped
    // as a repeat).
    const keyOf = (e: (typeof f.events)[number]) => `${e.name} ${e.payload.task_id} ${e.payload.attempt}`;
    const endingsNow = () =>
      f.events.filter(
        (e, i, all) => ENDINGS.has(e.name) && all.findIndex((o) => keyOf(o) === keyOf(e)) === i,
      );
    // The API knows of an ending when the orchestrator reports; the scheduler publishes it
    // when it sees the pod end, and the claimer closes the claim after that: a moment later.
    const closedNow = () => f.logs.filter((l) => l.includes('"claim closed"'));
    await f.waitFor('8 endings on the bus and 8 claims closed', () =>
      endingsNow().length >= 8 && closedNow().length >= 8 ? true : undefined,
    );
    const endings = endingsNow();
    const of = (id: string) => endings.filter((e) => e.payload.task_id === id).map((e) => e.name);
    expect([passed, jobFailed, agentError].map(of)).toEqual([
      ['task.reported'],
      ['task.reported'],
      ['task.reported'],
    ]);
    expect(of(givenBack)).toEqual(['task.reported', 'task.reported', 'task.reported', 'task.reported']);
    expect(endings.find((e) => e.payload.task_id === crashed)?.payload).toMatchObject({
      reason: 'exit-code',
      exit_code: 1,
      to_retry: false,
    });
    const inPod = endings.filter((e) => e.payload.task_id !== crashed);
    expect(new Set(inPod.map((e) => e.payload.reason))).toEqual(new Set(['reported-in-pod']));

    // Printed by the tap and counted by the claimer: nowhere a success.
    const printed = endings.map((e) =>
      formatEvent(e.name as 'task.reported', e.payload as never, { utc: true }),
    );
    expect(printed.filter((l) => /\breported\b/.test(l))).toHaveLength(7);
    expect(printed.join('\n')).not.toMatch(/succe/);
    const closed = closedNow();
    expect(closed).toHaveLength(8);
    expect(closed.filter((l) => l.includes('"outcome":"reported-in-pod"'))).toHaveLength(7);
    expect(closed.filter((l) => l.includes('"outcome":"failed"'))).toHaveLength(1);
    expect(closed.join('\n')).not.toMatch(/succe/);
  }, 150_000);

  it('gives back the task of an orchestrator that exited non-zero where unsafe retries are on, as it would have', async () => {
    // runner-init's orchestrator gives a task back on any error when unsafe retries are on;
    // one that could not has left that to the runner: up to 3 unclaims, then a fail event.
    fleet = await Fleet.start({
      classes: { [RC]: { token: 'tok-endings-00002', enableUnsafeRetries: true } },
    });
    const f = fleet;
    f.spawn('scheduler');
    f.spawn('claimer');
    const id = await f.admin.enqueue({ resource_class: RC, image: 'fate.test/exit-1:300ms' });
    const [task] = await f.waitForTasksEnded([id], 90_000);
    expect([count(task!, 'claimed'), count(task!, 'unclaimed')]).toEqual([4, 3]);
    expect(task!.history.at(-1)).toMatchObject({
      type: 'failed',
      message: expect.stringContaining('exited with code 1 (Error)'),
    });
    const interrupted = f.events$('task.interrupted').filter((e) => e.payload.task_id === id);
    expect([...new Set(interrupted.map((e) => `${e.payload.attempt} ${e.payload.to_retry}`))]).toEqual([
      '1 true',
      '2 true',
      '3 true',
      '4 false',
    ]);
    expect(interrupted.every((e) => e.payload.reason === 'exit-code')).toBe(true);
  }, 150_000);
});
