import type {
  ClaimDropped,
  ClaimState,
  ConstraintStatus,
  PodCheckResult,
  ScalerDecision,
  TaskEnded,
} from '@longshore/contracts';
import type { MetricSample } from '@longshore/runtime/stages';
import { describe, expect, it } from 'vitest';
import { type FleetSnapshot, FleetView, type FleetViewOptions, type ViewEvent } from './fleet-view.ts';

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
/** The time `s` seconds after T0, as events carry it. */
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const MINUTE = 60_000;
const SMALL = 'acme/small';
const BIG = 'acme/big';
const VM = 'acme/vm';

const taskId = (n: number) => `${String(n).padStart(8, '0')}-5b6e-4f70-8a91-0c2d3e4f5a6b`;

type Payload<N extends ViewEvent['name']> = Extract<ViewEvent, { name: N }>['payload'];
const event = <N extends ViewEvent['name']>(name: N, payload: Payload<N>): ViewEvent =>
  ({ name, payload }) as ViewEvent;

interface Ref {
  id: string;
  rc?: string;
  attempt?: number;
}
const ref = (r: Ref, s: number) => ({
  task_id: r.id,
  resource_class: r.rc ?? SMALL,
  attempt: r.attempt ?? 1,
  runner: 'runner-a',
  at: at(s),
});
const pod = (r: Ref) => ({ pod: `ccita-${r.id.slice(0, 8)}-${r.attempt ?? 1}`, namespace: 'tasks' });

const claimed = (r: Ref, s: number) => event('task.claimed', { ...ref(r, s), allocation: `alloc-${r.id}` });
const scheduled = (r: Ref, s: number) => event('task.scheduled', { ...ref(r, s), ...pod(r), node: 'kwok-1' });
const running = (r: Ref, s: number) => event('task.running', { ...ref(r, s), ...pod(r), node: 'kwok-1' });
const ended = (
  name: 'task.reported' | 'task.failed' | 'task.interrupted',
  r: Ref,
  s: number,
  over: Partial<TaskEnded> = {},
) => event(name, { ...ref(r, s), ...pod(r), reason: 'reported-in-pod', to_retry: false, ...over });
const reported = (r: Ref, s: number) => ended('task.reported', r, s, { exit_code: 0 });
const released = (r: Ref, s: number, reason = 'evicted') =>
  event('task.released', { ...ref(r, s), reason, retries_used: r.attempt ?? 1 });

/** A task's events from claim to report, at the given seconds. */
const lifecycle = (r: Ref, [c, p, run, end]: [number, number, number, number]) => [
  claimed(r, c),
  scheduled(r, p),
  running(r, run),
  reported(r, end),
];

const dropped = (s: number, over: Partial<ClaimDropped> = {}) =>
  event('claim.dropped', {
    runner: 'runner-a',
    resource_class: SMALL,
    allocation: `alloc-drop-${s}`,
    at: at(s),
    stage: 'config',
    outcome: 'failed',
    error: 'GET /api/v2/task/config: HTTP 200 answer is not the expected shape',
    ...over,
  });

const decision = (s: number, over: Partial<ScalerDecision> = {}) =>
  event('scaler.decision', {
    resource_class: VM,
    pool: 'vm-small',
    namespace: 'vms',
    at: at(s),
    unclaimed_tasks: 0,
    running_tasks: 0,
    desired_vms: 0,
    previous_vms: null,
    scaled: false,
    ...over,
  });

const constraint = (rc: string, over: Partial<ConstraintStatus> = {}): ConstraintStatus => ({
  resource_class: rc,
  at: at(0),
  enabled: true,
  consecutive_failures: 0,
  reason: '',
  ...over,
});

const claimState = (runner: string, rc: string, over: Partial<ClaimState> = {}): ClaimState => ({
  runner,
  resource_class: rc,
  at: at(0),
  state: 'claiming',
  since: at(0),
  reason: '',
  last_error: null,
  dropped: {},
  last_drop: null,
  ...over,
});

const sample = (
  name: string,
  rc: string,
  value: number,
  labels: Record<string, string> = {},
): MetricSample => ({
  name,
  labels: { resource_class: rc, ...labels },
  value,
});

const fleet = (over: Partial<FleetViewOptions> = {}) => new FleetView({ windowMs: 15 * MINUTE, ...over });
const feed = (view: FleetView, events: ViewEvent[]) => {
  for (const e of events) view.applyEvent(e);
};
const classOf = (snap: FleetSnapshot, rc: string) => {
  const c = snap.classes.find((x) => x.resource_class === rc);
  if (c === undefined) throw new Error(`no class ${rc} in the snapshot`);
  return c;
};
/** Each stage's [count, p50 ms, p99 ms]. */
const stagesOf = (snap: FleetSnapshot, rc: string) =>
  Object.fromEntries(classOf(snap, rc).stages.map((s) => [s.stage, [s.count, s.p50_ms, s.p99_ms]]));

/**
 * Five tasks of SMALL, claimed 100 s apart: [pod created after claim, running after pod,
 * ended after running], in seconds.
 */
const GAPS: [number, number, number][] = [
  [3, 0.5, 10],
  [1, 0.25, 20],
  [40, 1, 30],
  [2, 2, 60],
  [5, 0.75, 15],
];
const feedGaps = (view: FleetView) =>
  GAPS.forEach(([p, r, e], i) => {
    const c = i * 100;
    feed(view, lifecycle({ id: taskId(i) }, [c, c + p, c + p + r, c + p + r + e]));
  });

describe('FleetView', () => {
  it('follows a task from claim to report, one stage after another, with its pod, node and runner', () => {
    const view = fleet();
    const t = { id: taskId(1) };
    const stageAfter = (e: ViewEvent) => {
      view.applyEvent(e);
      return view.snapshot(T0 + 70_000).tasks[0]!.stage;
    };
    expect(lifecycle(t, [0, 2, 5, 65]).map(stageAfter)).toEqual([
      'claimed',
      'pod-created',
      'running',
      'ended',
    ]);

    const task = view.snapshot(T0 + 70_000).tasks[0]!;
    expect(task).toMatchObject({ task_id: t.id, resource_class: SMALL, last_at: at(65) });
    expect(task.attempts).toEqual([
      {
        attempt: 1,
        queued_at: null,
        claimed_at: at(0),
        pod_created_at: at(2),
        running_at: at(5),
        ended_at: at(65),
        ending: { event: 'reported', reason: 'reported-in-pod', to_retry: false },
        runner: 'runner-a',
        pod: 'tasks/ccita-00000001-1',
        node: 'kwok-1',
      },
    ]);

    const lines = view.taskEvents(t.id)!.lines;
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain('#1  claimed');
    expect(lines[0]).toContain(SMALL);
    expect(lines[0]).toMatch(/^12:00:00\.000 {2}task 00000001…/);
    expect(lines[2]).toContain('running      acme/small  pod=tasks/ccita-00000001-1 node=kwok-1');
    expect(lines[3]).toContain('#1  reported');
    expect(view.taskEvents(taskId(99))).toBeUndefined();
  });

  it('keeps a retried task on one row: the second attempt queued from the release of the first', () => {
    const view = fleet();
    const first = { id: taskId(1) };
    const second = { ...first, attempt: 2 };
    feed(view, [
      claimed(first, 0),
      scheduled(first, 1),
      running(first, 2),
      ended('task.interrupted', first, 10, { reason: 'evicted', to_retry: true }),
      // The claimer releases it once the Runner API took the unclaim, a little later.
      released(first, 11),
    ]);
    expect(view.snapshot(T0 + 12_000).tasks.map((t) => t.stage)).toEqual(['queued']);

    feed(view, lifecycle(second, [20, 21, 22, 40]));
    const snap = view.snapshot(T0 + 60_000);
    expect(snap.tasks).toHaveLength(1);
    const [a1, a2] = snap.tasks[0]!.attempts;
    expect(snap.tasks[0]!.attempts).toHaveLength(2);
    expect(a1).toMatchObject({
      attempt: 1,
      ended_at: at(10),
      ending: { event: 'interrupted', reason: 'evicted', to_retry: true },
    });
    expect(a2).toMatchObject({ attempt: 2, queued_at: at(11), claimed_at: at(20), ended_at: at(40) });
    expect(snap.tasks[0]!.stage).toBe('ended');
    expect(classOf(snap, SMALL)).toMatchObject({
      retries: 1,
      endings: { 'interrupted: evicted': 1, reported: 1 },
    });
    // The attempt and event columns of each line.
    expect(view.taskEvents(first.id)!.lines.map((l) => l.slice(30, 45).trim())).toEqual([
      '#1  claimed',
      '#1  scheduled',
      '#1  running',
      '#1  interrupted',
      '#1  released',
      '#2  claimed',
      '#2  scheduled',
      '#2  running',
      '#2  reported',
    ]);
  });

  it('dates the second attempt from the release even when its claim was published first', () => {
    // Once unclaimed, another claimer may take the task before the release is published.
    const view = fleet();
    const first = { id: taskId(1) };
    feed(view, [
      claimed(first, 0),
      ended('task.interrupted', first, 10, { reason: 'node-lost', to_retry: true }),
      claimed({ ...first, attempt: 2 }, 12),
      released(first, 11, 'node-lost'),
    ]);
    const task = view.snapshot(T0 + 20_000).tasks[0]!;
    expect(task.attempts[1]).toMatchObject({ attempt: 2, queued_at: at(11), claimed_at: at(12) });
    expect(task.stage).toBe('claimed');
  });

  it('counts an ending published twice (two scheduler replicas, a redelivery) once', () => {
    const view = fleet();
    const t = { id: taskId(1) };
    feed(view, [
      ...lifecycle(t, [0, 1, 2, 30]),
      reported(t, 30),
      // A replica that looked later and saw a failure: the attempt ended once, as reported.
      ended('task.failed', t, 31, { reason: 'exit-code', exit_code: 1 }),
    ]);
    const snap = view.snapshot(T0 + 60_000);
    expect(classOf(snap, SMALL).endings).toEqual({ reported: 1 });
    expect(stagesOf(snap, SMALL)).toEqual({
      pod_created: [1, 1000, 1000],
      running: [1, 1000, 1000],
      ended: [1, 28_000, 28_000],
      end_to_end: [1, 30_000, 30_000],
    });
    expect(snap.tasks[0]!.attempts[0]).toMatchObject({
      ended_at: at(30),
      ending: { event: 'reported', reason: 'reported-in-pod', to_retry: false },
    });
  });

  it('reads every event a second time (a replay resumed after a lost stream) without counting it twice', () => {
    const view = fleet();
    const t = { id: taskId(1) };
    const events = [...lifecycle(t, [0, 1, 2, 30]), dropped(5, { allocation: 'alloc-x' })];
    feed(view, [...events, ...events]);
    const snap = view.snapshot(T0 + 60_000);
    expect(stagesOf(snap, SMALL)).toEqual({
      pod_created: [1, 1000, 1000],
      running: [1, 1000, 1000],
      ended: [1, 28_000, 28_000],
      end_to_end: [1, 30_000, 30_000],
    });
    expect(classOf(snap, SMALL)).toMatchObject({ endings: { reported: 1 }, dropped: 1 });
  });

  it('counts a release published twice as one retry', () => {
    const view = fleet();
    const t = { id: taskId(1) };
    feed(view, [
      claimed(t, 0),
      ended('task.interrupted', t, 5, { reason: 'preempted', to_retry: true }),
      released(t, 6, 'preempted'),
      released(t, 6, 'preempted'),
    ]);
    const snap = view.snapshot(T0 + 10_000);
    expect(classOf(snap, SMALL)).toMatchObject({ retries: 1, endings: { 'interrupted: preempted': 1 } });
  });

  it('gives each class nearest-rank p50 and p99 of each stage, in ms', () => {
    const view = fleet();
    feedGaps(view);
    feed(view, lifecycle({ id: taskId(9), rc: BIG }, [0, 7, 8, 9]));
    feed(view, [claimed({ id: taskId(10), rc: 'acme/new' }, 0)]);

    const snap = view.snapshot(T0 + 500_000);
    expect(stagesOf(snap, SMALL)).toEqual({
      pod_created: [5, 3000, 40_000],
      running: [5, 750, 2000],
      ended: [5, 20_000, 60_000],
      end_to_end: [5, 21_250, 71_000],
    });
    expect(stagesOf(snap, BIG)).toEqual({
      pod_created: [1, 7000, 7000],
      running: [1, 1000, 1000],
      ended: [1, 1000, 1000],
      end_to_end: [1, 9000, 9000],
    });
    expect(stagesOf(snap, 'acme/new')).toEqual({
      pod_created: [0, null, null],
      running: [0, null, null],
      ended: [0, null, null],
      end_to_end: [0, null, null],
    });
  });

  it('leaves stage samples older than the window out of the latencies', () => {
    const view = fleet({ windowMs: 10 * MINUTE });
    feedGaps(view);
    // The window now starts at 300 s: only the tasks claimed at 300 s and 400 s are in it.
    const snap = view.snapshot(T0 + 900_000);
    expect(snap.since).toBe(at(300));
    expect(stagesOf(snap, SMALL)).toEqual({
      pod_created: [2, 2000, 5000],
      running: [2, 750, 2000],
      ended: [2, 15_000, 60_000],
      end_to_end: [2, 20_750, 64_000],
    });
    expect(classOf(snap, SMALL).endings).toEqual({ reported: 2 });
  });

  it('says why a class does not claim: disabled, token refused, or every claimer draining', () => {
    const view = fleet();
    const REFUSED = 'POST /api/v3/runner/claim: HTTP 403 (unknown resource class token)';
    const SSD = 'acme/ssd';
    view.setConstraint(
      'acme.ssd',
      constraint(SSD, { enabled: false, consecutive_failures: 3, reason: 'no ssd' }),
    );
    view.setClaimState('c1.acme.ssd', claimState('c1', SSD));
    view.setClaimState(
      'c1.acme.big',
      claimState('c1', BIG, { state: 'token-refused', since: at(5), reason: REFUSED }),
    );
    view.setClaimState('c2.acme.big', claimState('c2', BIG));
    view.setClaimState('c1.acme.a', claimState('c1', 'acme/a', { state: 'draining', reason: 'stopping' }));
    view.setClaimState('c1.acme.b', claimState('c1', 'acme/b', { state: 'draining', reason: 'stopping' }));
    view.setClaimState('c2.acme.b', claimState('c2', 'acme/b'));
    const claiming = (snap: FleetSnapshot) =>
      snap.classes.map((c) => [c.resource_class, c.claiming, c.why.join('; ')]);

    expect(claiming(view.snapshot(T0 + 10_000))).toEqual([
      ['acme/a', false, 'draining: its claimer is stopping'],
      // One of its two claimers draining: the other still claims.
      ['acme/b', true, ''],
      [BIG, false, `token refused since ${at(5)}: ${REFUSED}`],
      [SSD, false, 'disabled: no ssd'],
    ]);
    expect(classOf(view.snapshot(T0 + 10_000), SSD)).toMatchObject({ claimers: 1, checked_at: at(0) });

    view.setConstraint('acme.ssd', undefined);
    view.setClaimState('c1.acme.big', undefined);
    expect(claiming(view.snapshot(T0 + 20_000))).toEqual([
      ['acme/a', false, 'draining: its claimer is stopping'],
      ['acme/b', true, ''],
      [BIG, true, ''],
      [SSD, true, ''],
    ]);
  });

  it('takes in flight and the cap from the claimers’ metrics, summed, else counts open tasks from events', () => {
    const view = fleet();
    feed(view, [
      claimed({ id: taskId(1) }, 0),
      claimed({ id: taskId(2), rc: BIG }, 0),
      ...lifecycle({ id: taskId(3), rc: BIG }, [1, 2, 3, 4]).slice(0, 3),
      ...lifecycle({ id: taskId(4), rc: BIG }, [1, 2, 3, 4]),
      claimed({ id: taskId(5), rc: BIG }, 5),
      // Back in the queue for a retry: no claimer holds it.
      ended('task.interrupted', { id: taskId(5), rc: BIG }, 6, { reason: 'evicted', to_retry: true }),
    ]);
    const flight = (snap: FleetSnapshot, rc: string) => {
      const c = classOf(snap, rc);
      return [c.in_flight, c.in_flight_source, c.cap];
    };
    let snap = view.snapshot(T0 + 10_000);
    expect(flight(snap, SMALL)).toEqual([1, 'events', null]);
    expect(flight(snap, BIG)).toEqual([2, 'events', null]);
    expect(snap.metrics).toEqual({ sources: 0, answering: 0, at: null });

    view.setMetrics(
      [
        sample('longshore_claimer_class_in_flight', SMALL, 3, { runner: 'c1' }),
        sample('longshore_claimer_class_max_in_flight', SMALL, 8, { runner: 'c1' }),
        sample('longshore_claimer_class_in_flight', SMALL, 2, { runner: 'c2' }),
        sample('longshore_claimer_class_max_in_flight', SMALL, 8, { runner: 'c2' }),
        sample('longshore_scheduler_pods', SMALL, 40),
      ],
      3,
      2,
      T0 + 11_000,
    );
    snap = view.snapshot(T0 + 12_000);
    expect(flight(snap, SMALL)).toEqual([5, 'metrics', 16]);
    expect(flight(snap, BIG)).toEqual([2, 'events', null]);
    expect(snap.metrics).toEqual({ sources: 3, answering: 2, at: at(11) });
  });

  it('shows a VM pool: desired on change, the queue, ready from metrics, and its scaling decisions', () => {
    const view = fleet();
    feed(view, [
      decision(0),
      decision(10, { unclaimed_tasks: 3, desired_vms: 3, previous_vms: 0, scaled: true }),
      decision(20, { unclaimed_tasks: 3, desired_vms: 3, previous_vms: 3 }),
      decision(30, { unclaimed_tasks: 1, running_tasks: 2, desired_vms: 3, previous_vms: 3 }),
      decision(40, { unclaimed_tasks: 0, running_tasks: 2, desired_vms: 2, previous_vms: 3, scaled: true }),
    ]);
    let snap = view.snapshot(T0 + 41_000);
    expect(snap.pools).toEqual([
      {
        resource_class: VM,
        pool: 'vm-small',
        namespace: 'vms',
        desired: 2,
        ready: null,
        unclaimed: 0,
        running: 2,
        desired_series: [
          [T0, 0],
          [T0 + 10_000, 3],
          [T0 + 40_000, 2],
        ],
        ready_series: [],
        // The first decision, so the pool shows one; then only those that scaled.
        decisions: [
          '12:00:00.000  scaler              decision     acme/vm  unclaimed=0 running=0 desired=0 was=unknown unchanged pool=vms/vm-small',
          '12:00:10.000  scaler              decision     acme/vm  unclaimed=3 running=0 desired=3 was=0 scaled pool=vms/vm-small',
          '12:00:40.000  scaler              decision     acme/vm  unclaimed=0 running=2 desired=2 was=3 scaled pool=vms/vm-small',
        ],
      },
    ]);
    expect(classOf(snap, VM)).toMatchObject({
      kind: 'machine',
      claiming: true,
      why: [],
      queue: { unclaimed: 0, running: 2, at: at(40) },
      claimers: 0,
    });

    const ready = (n: number) => [sample('longshore_vm_scaler_ready_vms', VM, n, { pool: 'vm-small' })];
    view.setMetrics(ready(2), 1, 1, T0 + 45_000);
    view.setMetrics(ready(2), 1, 1, T0 + 50_000);
    view.setMetrics(ready(1), 1, 1, T0 + 55_000);
    snap = view.snapshot(T0 + 56_000);
    expect(snap.pools[0]).toMatchObject({
      ready: 1,
      ready_series: [
        [T0 + 45_000, 2],
        [T0 + 55_000, 1],
      ],
    });

    for (let i = 0; i < 12; i++)
      view.applyEvent(decision(60 + i, { desired_vms: i + 4, previous_vms: i + 3, scaled: true }));
    const decisions = view.snapshot(T0 + 80_000).pools[0]!.decisions;
    expect(decisions).toHaveLength(10);
    expect(decisions.every((l) => l.includes(' scaled '))).toBe(true);
    expect(decisions.at(-1)).toContain('desired=15 was=14 scaled');
  });

  it('keeps a class the claimers claim for a container class, even with a scaler queue', () => {
    const view = fleet();
    feed(view, [claimed({ id: taskId(1) }, 0), decision(1, { resource_class: SMALL })]);
    view.setClaimState('c1.acme.small', claimState('c1', SMALL));
    const snap = view.snapshot(T0 + 5_000);
    expect(classOf(snap, SMALL)).toMatchObject({ kind: 'container', claimers: 1 });
  });

  it('ends a dropped claim’s task row; a drop without a task id only counts', () => {
    const view = fleet();
    const t = { id: taskId(1) };
    feed(view, [
      dropped(3, { task_id: t.id, stage: 'commit', outcome: 'released', runner: 'runner-b' }),
      dropped(4),
    ]);
    const snap = view.snapshot(T0 + 10_000);
    expect(snap.tasks.map((x) => x.task_id)).toEqual([t.id]);
    expect(snap.tasks[0]).toMatchObject({ stage: 'ended', last_at: at(3) });
    expect(snap.tasks[0]!.attempts).toEqual([
      {
        attempt: 1,
        queued_at: null,
        claimed_at: null,
        pod_created_at: null,
        running_at: null,
        ended_at: at(3),
        ending: { event: 'dropped', reason: 'commit: released', to_retry: false },
        runner: 'runner-b',
        pod: null,
        node: null,
      },
    ]);
    expect(classOf(snap, SMALL)).toMatchObject({ dropped: 2, endings: {}, in_flight: 0 });
    const lines = view.taskEvents(t.id)!.lines;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^12:00:03\.000 {2}task 00000001… +dropped +acme\/small {2}stage=commit outcome=released/,
    );
  });

  it('ends the latest attempt of a claimed task whose claim was dropped', () => {
    const view = fleet();
    const t = { id: taskId(1) };
    feed(view, [claimed(t, 0), dropped(2, { task_id: t.id, stage: 'announce', outcome: 'unreported' })]);
    const task = view.snapshot(T0 + 5_000).tasks[0]!;
    expect(task.stage).toBe('ended');
    expect(task.attempts).toHaveLength(1);
    expect(task.attempts[0]).toMatchObject({
      claimed_at: at(0),
      ended_at: at(2),
      ending: { event: 'dropped', reason: 'announce: unreported' },
    });
  });

  it('keeps at most maxTasks rows, evicting the longest-ended first and a running task last', () => {
    const view = fleet({ maxTasks: 3 });
    const [a, b, c, d, e, f] = [1, 2, 3, 4, 5, 6].map((n) => ({ id: taskId(n) }));
    feed(view, [
      claimed(b!, 1),
      scheduled(b!, 2),
      running(b!, 3),
      ...lifecycle(a!, [4, 5, 6, 10]),
      ...lifecycle(c!, [20, 21, 22, 30]),
    ]);
    const ids = () => view.snapshot(T0 + 100_000).tasks.map((t) => t.task_id);

    // B's last event is the oldest, but it is still running.
    view.applyEvent(claimed(d!, 40));
    expect(ids()).toEqual([d!.id, c!.id, b!.id]);
    view.applyEvent(claimed(e!, 50));
    expect(ids()).toEqual([e!.id, d!.id, b!.id]);
    // Only when no row has ended does a live one go, the quietest first.
    view.applyEvent(claimed(f!, 60));
    expect(ids()).toEqual([f!.id, e!.id, d!.id]);
  });

  it('forgets rows that ended before the window, and keeps those still going however old', () => {
    const view = fleet({ windowMs: MINUTE });
    const [a, b, c, d] = [1, 2, 3, 4].map((n) => ({ id: taskId(n) }));
    feed(view, [
      claimed(b!, 0),
      running(b!, 3),
      ...lifecycle(a!, [4, 5, 6, 10]),
      // Interrupted for a retry and never claimed again in the window: nothing left to show.
      claimed(d!, 4),
      ended('task.interrupted', d!, 8, { reason: 'evicted', to_retry: true }),
      ...lifecycle(c!, [20, 21, 22, 30]),
    ]);
    const snap = view.snapshot(T0 + 75_000);
    expect(snap.tasks.map((t) => [t.task_id, t.stage])).toEqual([
      [c!.id, 'ended'],
      [b!.id, 'running'],
    ]);
    expect(view.taskEvents(a!.id)).toBeUndefined();
    expect(view.taskEvents(d!.id)).toBeUndefined();
  });

  it('forgets what is past the window when asked, with no snapshot taken (no browser watching)', () => {
    const view = fleet({ windowMs: MINUTE });
    const a = { id: taskId(1) };
    feed(view, lifecycle(a, [0, 1, 2, 3]));
    view.forget(T0 + 30_000);
    expect(view.taskEvents(a.id)).toBeDefined();
    view.forget(T0 + 64_000);
    expect(view.taskEvents(a.id)).toBeUndefined();
  });

  it('lets no field it does not name through, secret-like or not', () => {
    const SECRET = 'sekrit-123';
    const view = fleet();
    const t = { id: taskId(1) };
    const withToken = (e: ViewEvent): ViewEvent =>
      ({ ...e, payload: { ...e.payload, token: SECRET } }) as unknown as ViewEvent;
    feed(
      view,
      [
        ...lifecycle(t, [0, 1, 2, 3]),
        dropped(4, { task_id: taskId(2) }),
        released({ id: taskId(3) }, 5),
        decision(6, { scaled: true, desired_vms: 1 }),
      ].map(withToken),
    );
    const secretly = <T extends object>(v: T) => ({ ...v, token: SECRET }) as T;
    view.setConstraint('acme.small', secretly(constraint(SMALL, { enabled: false, reason: 'no' })));
    view.setClaimState(
      'c1.acme.big',
      secretly(
        claimState('c1', BIG, {
          state: 'token-refused',
          reason: 'HTTP 403',
          last_error: secretly({ at: at(0), error: 'HTTP 403' }),
          last_drop: secretly({
            at: at(0),
            stage: 'claim' as const,
            outcome: 'gone' as const,
            error: 'gone',
          }),
        }),
      ),
    );
    const check: PodCheckResult = {
      resource_class: BIG,
      at: at(0),
      outcome: 'refused',
      reason: 'bad',
      fingerprint: 'f'.repeat(64),
      runner: 'scheduler-0',
    };
    view.setPodCheck('acme.big', secretly(check));
    view.setMetrics(
      [sample('longshore_claimer_class_in_flight', SMALL, 1, { token: SECRET })],
      1,
      1,
      T0 + 7_000,
    );

    const snap = view.snapshot(T0 + 10_000);
    expect(snap.tasks).toHaveLength(3);
    expect(snap.pools).toHaveLength(1);
    expect(JSON.stringify(snap)).not.toContain(SECRET);
    for (const id of [taskId(1), taskId(2), taskId(3)]) {
      const found = view.taskEvents(id)!;
      expect(found.lines.join('\n')).not.toContain(SECRET);
      expect(JSON.stringify(found.task)).not.toContain(SECRET);
    }
  });
});
