import { type ClaimResponse, TaskConfig } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import type { TaskSpec } from './admin-schemas.ts';
import { MAX_UNCLAIMS, SimState, SimStateError } from './sim-state.ts';

const RC = 'acme/small';
const RUNNER = { name: 'runner-1', hostname: 'host-1', ip: '10.0.0.1', version: '1.0.0' };

function spec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    resource_class: RC,
    image: 'cimg/base:current',
    service_containers: [],
    environment: {},
    job_name: 'build',
    working_directory: '~/project',
    ssh_advertise_addr: '',
    ...overrides,
  };
}

function newState(): SimState {
  return new SimState({ classes: { [RC]: ['rc-token'], 'acme/big': ['big-token'] }, apiToken: 'api' });
}

function enqueueOne(state: SimState, overrides: Partial<TaskSpec> = {}): string {
  const outcome = state.enqueue(spec(overrides));
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.taskIds[0]!;
}

function claimOne(state: SimState, token = 'rc-token'): ClaimResponse {
  const outcome = state.claim(token, RUNNER);
  if (!outcome.ok || outcome.claim === undefined) throw new Error('expected a claim');
  return outcome.claim;
}

function historyTypes(state: SimState, id: string): string[] {
  return state.task(id)!.history.map((e) => e.type);
}

describe('SimState claim', () => {
  it('hands out queued tasks first in, first out, then reports an empty queue', () => {
    const state = newState();
    const first = enqueueOne(state);
    const second = enqueueOne(state);

    const a = claimOne(state);
    const b = claimOne(state);

    expect(state.taskConfig(a.task_token)).toMatchObject({ ok: true, config: { task_id: first } });
    expect(state.taskConfig(b.task_token)).toMatchObject({ ok: true, config: { task_id: second } });
    expect(state.claim('rc-token', RUNNER)).toEqual({ ok: true });
  });

  it('refuses an unknown resource class token', () => {
    const state = newState();
    enqueueOne(state);
    expect(state.claim('nope', RUNNER)).toMatchObject({ ok: false, reason: 'forbidden' });
    expect(state.unclaimedCount(RC)).toBe(1);
  });

  it('only hands out tasks of the token’s own resource class', () => {
    const state = newState();
    enqueueOne(state, { resource_class: 'acme/big' });
    expect(state.claim('rc-token', RUNNER)).toEqual({ ok: true });
    expect(claimOne(state, 'big-token').resource_class).toBe('acme/big');
  });

  it('gives each claim a fresh token and allocation and records the runner', () => {
    const state = newState();
    const id = enqueueOne(state);
    const first = claimOne(state);
    expect(state.unclaim(id, first.task_token).ok).toBe(true);
    const second = claimOne(state);

    expect(second.task_token).not.toBe(first.task_token);
    expect(second.allocation).not.toBe(first.allocation);
    const claimed = state.task(id)!.history.filter((e) => e.type === 'claimed');
    expect(claimed).toEqual([
      expect.objectContaining({ runner: RUNNER, allocation: first.allocation }),
      expect.objectContaining({ runner: RUNNER, allocation: second.allocation }),
    ]);
  });

  it('never hands the same task to two claims', () => {
    const state = newState();
    state.enqueue(spec(), 50);
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const outcome = state.claim('rc-token', RUNNER);
      if (outcome.ok && outcome.claim) {
        const config = state.taskConfig(outcome.claim.task_token);
        if (config.ok) ids.add(config.config.task_id);
      }
    }
    expect(ids.size).toBe(50);
    expect(state.runningCount(RC)).toBe(50);
  });
});

describe('SimState task config', () => {
  it('lists the primary container first, then the service containers', () => {
    const state = newState();
    const id = enqueueOne(state, {
      environment: { FOO: 'bar' },
      command: ['make', 'test'],
      service_containers: [
        { image: 'redis:7', name: 'redis' },
        { image: 'postgres:16', environment: { A: 'b' } },
      ],
    });
    const outcome = state.taskConfig(claimOne(state).task_token);
    if (!outcome.ok) throw new Error(outcome.message);

    expect(TaskConfig.parse(outcome.config)).toEqual(outcome.config);
    expect(outcome.config).toMatchObject({ task_id: id, resource_class: RC });
    expect(outcome.config.containers).toEqual([
      { image: 'cimg/base:current', command: ['make', 'test'], environment: { FOO: 'bar' } },
      { image: 'redis:7', name: 'redis', environment: {} },
      { image: 'postgres:16', environment: { A: 'b' } },
    ]);
    expect(historyTypes(state, id)).toEqual(['queued', 'claimed', 'config-fetched']);
  });

  it('does not know a token that was unclaimed or never issued, and refuses one whose task ended', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);
    state.unclaim(id, claim.task_token);
    expect(state.taskConfig(claim.task_token)).toMatchObject({ ok: false, reason: 'unknown-token' });
    expect(state.taskConfig('never-issued')).toMatchObject({ ok: false, reason: 'unknown-token' });
    const again = claimOne(state);
    state.report(id, again.task_token, 'succeeded');
    expect(state.taskConfig(again.task_token)).toMatchObject({ ok: false, reason: 'not-found' });
    const other = enqueueOne(state);
    const cancelled = claimOne(state);
    state.cancel(other);
    expect(state.taskConfig(cancelled.task_token)).toMatchObject({ ok: false, reason: 'cancelled' });
  });
});

describe('SimState unclaim', () => {
  it('puts the task back at the front of the queue', () => {
    const state = newState();
    const first = enqueueOne(state);
    enqueueOne(state);
    const claim = claimOne(state);

    expect(state.unclaim(first, claim.task_token)).toEqual({ ok: true });
    expect(state.unclaimedCount(RC)).toBe(2);
    const again = claimOne(state);
    expect(state.taskConfig(again.task_token)).toMatchObject({ ok: true, config: { task_id: first } });
    expect(state.task(first)).toMatchObject({ state: 'claimed', claims: 2, unclaims: 1 });
  });

  it(`answers retries-exhausted after ${MAX_UNCLAIMS} unclaims and keeps the task claimed`, () => {
    const state = newState();
    const id = enqueueOne(state);
    for (let i = 0; i < MAX_UNCLAIMS; i++) {
      expect(state.unclaim(id, claimOne(state).task_token).ok).toBe(true);
    }
    const last = claimOne(state);

    expect(state.unclaim(id, last.task_token)).toMatchObject({ ok: false, reason: 'retries-exhausted' });
    expect(state.task(id)).toMatchObject({ state: 'claimed', unclaims: MAX_UNCLAIMS });
    expect(state.task(id)!.history.at(-1)).toMatchObject({ type: 'unclaim-rejected', status: 409 });
    expect(state.fail(last.task_token, failEvent(last.allocation, 'gave up')).ok).toBe(true);
    expect(state.task(id)!.state).toBe('failed');
  });

  it('answers cancelled for a task cancelled under the caller’s claim', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);
    state.cancel(id);

    expect(state.unclaim(id, claim.task_token)).toMatchObject({ ok: false, reason: 'cancelled' });
    expect(state.task(id)!.history.at(-1)).toMatchObject({ type: 'unclaim-rejected', status: 404 });
  });

  it('does not know a stale or made-up token (404), and refuses a task id that is not the token’s task (400)', () => {
    const state = newState();
    const id = enqueueOne(state);
    const other = enqueueOne(state);
    const stale = claimOne(state);
    state.unclaim(id, stale.task_token);
    const current = claimOne(state);
    claimOne(state);

    expect(state.unclaim(id, stale.task_token)).toMatchObject({ ok: false, reason: 'unknown-token' });
    expect(state.unclaim(id, 'made-up')).toMatchObject({ ok: false, reason: 'unknown-token' });
    expect(state.unclaim('no-such-task', current.task_token)).toMatchObject({
      ok: false,
      reason: 'bad-request',
    });
    expect(state.unclaim(other, current.task_token)).toMatchObject({ ok: false, reason: 'bad-request' });
    expect(state.task(id)).toMatchObject({ state: 'claimed', unclaims: 1 });
  });
});

function failEvent(allocation: string, message: string) {
  return { allocation, timestamp: 1_700_000_000_000, message: Buffer.from(message).toString('base64') };
}

describe('SimState fail event', () => {
  it('fails the task with the decoded message', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);

    expect(state.fail(claim.task_token, failEvent(claim.allocation, 'pod evicted: ünïcode'))).toEqual({
      ok: true,
    });
    expect(state.task(id)).toMatchObject({ state: 'failed' });
    expect(state.task(id)!.history.at(-1)).toMatchObject({
      type: 'failed',
      message: 'pod evicted: ünïcode',
      source: 'fail-event',
      timestamp: 1_700_000_000_000,
      allocation: claim.allocation,
    });
    expect(state.runningCount(RC)).toBe(0);
  });

  it('does not find an allocation other than the token’s claim’s, nor an unknown token', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);
    expect(state.fail(claim.task_token, failEvent('other', 'x'))).toMatchObject({
      ok: false,
      reason: 'not-found',
    });
    expect(state.fail('made-up', failEvent(claim.allocation, 'x'))).toMatchObject({
      ok: false,
      reason: 'unknown-token',
    });
    expect(state.task(id)!.state).toBe('claimed');
  });

  it('accepts a repeated fail event once without recording it twice', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);
    state.fail(claim.task_token, failEvent(claim.allocation, 'x'));
    expect(state.fail(claim.task_token, failEvent(claim.allocation, 'x'))).toEqual({ ok: true });
    expect(historyTypes(state, id).filter((t) => t === 'failed')).toHaveLength(1);
  });
});

describe('SimState report and cancel', () => {
  it('completes a task on a success report with the current token only', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);

    expect(state.report(id, 'wrong', 'succeeded')).toMatchObject({ ok: false, reason: 'forbidden' });
    expect(state.report(id, claim.task_token, 'succeeded')).toEqual({ ok: true });
    expect(state.task(id)!.state).toBe('completed');
    expect(state.report(id, claim.task_token, 'failed')).toMatchObject({ ok: false, reason: 'conflict' });
  });

  it('fails a task on a failure report with its message', () => {
    const state = newState();
    const id = enqueueOne(state);
    state.report(id, claimOne(state).task_token, 'failed', 'exit 1');
    expect(state.task(id)!.history.at(-1)).toMatchObject({
      type: 'failed',
      message: 'exit 1',
      source: 'report',
    });
  });

  it('cancels queued and claimed tasks so no one can claim them again', () => {
    const state = newState();
    const queued = enqueueOne(state);
    const claimed = enqueueOne(state);
    state.cancel(queued);
    claimOne(state);
    state.cancel(claimed);

    expect(state.task(queued)!.history.at(-1)).toMatchObject({ type: 'cancelled', from: 'queued' });
    expect(state.task(claimed)!.history.at(-1)).toMatchObject({ type: 'cancelled', from: 'claimed' });
    expect(state.unclaimedCount(RC)).toBe(0);
    expect(state.runningCount(RC)).toBe(0);
    expect(state.claim('rc-token', RUNNER)).toEqual({ ok: true });
  });

  it('does not cancel an ended task', () => {
    const state = newState();
    const id = enqueueOne(state);
    state.report(id, claimOne(state).task_token, 'succeeded');
    expect(state.cancel(id)).toMatchObject({ ok: false, reason: 'conflict' });
  });
});

describe('SimState administration', () => {
  it('refuses a token that already belongs to another class', () => {
    const state = newState();
    expect(state.registerClass('acme/other', ['rc-token'])).toMatchObject({ ok: false, reason: 'conflict' });
    expect(() => new SimState({ classes: { 'a/b': ['t'], 'c/d': ['t'] } })).toThrow(SimStateError);
  });

  it('refuses tasks for a class that is not registered', () => {
    expect(newState().enqueue(spec({ resource_class: 'acme/typo' }))).toMatchObject({
      ok: false,
      reason: 'not-found',
    });
  });

  it('accepts only the configured API token', () => {
    const state = newState();
    expect(state.isApiToken('api')).toBe(true);
    expect(state.isApiToken('other')).toBe(false);
    expect(new SimState().isApiToken('')).toBe(false);
  });

  it('keeps tokens out of task views', () => {
    const state = newState();
    const id = enqueueOne(state);
    const claim = claimOne(state);
    state.unclaim(id, claim.task_token);
    state.report(id, claimOne(state).task_token, 'succeeded');
    expect(JSON.stringify(state.task(id))).not.toContain(claim.task_token);
    expect(JSON.stringify(state.task(id))).not.toContain('rc-token');
  });

  it('filters the task list and counts by state', () => {
    const state = newState();
    state.enqueue(spec(), 3);
    enqueueOne(state, { resource_class: 'acme/big' });
    claimOne(state);

    expect(state.listTasks({ resource_class: RC })).toHaveLength(3);
    expect(state.listTasks({ state: 'claimed' })).toHaveLength(1);
    expect(state.taskCounts()).toEqual({ queued: 3, claimed: 1, completed: 0, failed: 0, cancelled: 0 });
  });

  it('reset forgets tasks but keeps classes', () => {
    const state = newState();
    enqueueOne(state);
    const claim = claimOne(state);
    state.reset();

    expect(state.listTasks()).toEqual([]);
    expect(state.taskConfig(claim.task_token)).toMatchObject({ ok: false });
    expect(state.enqueue(spec()).ok).toBe(true);
    expect(claimOne(state).resource_class).toBe(RC);
  });
});

describe('claim lease', () => {
  it('requeues a claim nobody confirmed within the lease, and keeps confirmed ones', async () => {
    let now = 0;
    const state = new SimState({ classes: { 'acme/small': ['rc-token'] }, now: () => new Date(now) });
    state.enqueue(spec(), 2);
    const runner = { name: 'r', hostname: 'h', ip: '1.1.1.1', version: '1' };
    const lost = state.claim('rc-token', runner);
    const kept = state.claim('rc-token', runner);
    if (!lost.ok || !kept.ok || !lost.claim || !kept.claim) throw new Error('claims failed');
    expect(state.taskConfig(kept.claim.task_token).ok).toBe(true);
    now = 59_000;
    expect(state.expireClaims(60_000)).toEqual([]);
    now = 61_000;
    const expired = state.expireClaims(60_000);
    expect(expired).toHaveLength(1);
    expect(state.task(expired[0]!)?.state).toBe('queued');
    expect(state.task(expired[0]!)?.history.at(-1)?.type).toBe('claim-expired');
    expect(state.taskConfig(lost.claim.task_token).ok).toBe(false);
    expect(state.unclaimedCount('acme/small')).toBe(1);
  });
});

describe('overrides: answering as a hostile Runner API does', () => {
  /** Claims, fetches the config, and returns both answers as served. */
  function claimAndFetch(state: SimState) {
    const claimed = state.claim('rc-token', RUNNER);
    if (!claimed.ok || claimed.claim === undefined || claimed.served === undefined) {
      throw new Error('expected a claim');
    }
    const config = state.taskConfig(claimed.claim.task_token);
    if (!config.ok) throw new Error(config.message);
    return { claim: claimed.claim, servedClaim: claimed.served, config: config.served };
  }

  it('serves config_override keys in place of the task config’s, unvalidated', () => {
    const state = newState();
    const containers = Array.from({ length: 500 }, () => ({ image: 'NOT AN IMAGE' }));
    const id = enqueueOne(state, { config_override: { task_id: 'a\nb', containers, extra: { x: 1 } } });
    const { config } = claimAndFetch(state);

    expect(config).toMatchObject({ task_id: 'a\nb', resource_class: RC, containers, extra: { x: 1 } });
    expect(TaskConfig.safeParse(config).success).toBe(false);
    // The simulator's own id still names the task in its history.
    expect(state.task(id)).toMatchObject({ id, served_task_id: 'a\nb', state: 'claimed' });
  });

  it('serves claim_override keys in place of the claim’s, and makes a served token and allocation the claim’s own', () => {
    const state = newState();
    const id = enqueueOne(state, {
      claim_override: { resource_class: 'other/class', allocation: 'alloc:1/x=', task_token: 'served-token' },
    });
    const { claim, servedClaim } = claimAndFetch(state);

    expect(servedClaim).toEqual({
      task_token: 'served-token',
      agent_version: state.agentVersion,
      resource_class: 'other/class',
      allocation: 'alloc:1/x=',
    });
    expect(claim).toMatchObject({ task_token: 'served-token', allocation: 'alloc:1/x=', resource_class: RC });
    expect(state.fail('served-token', failEvent('alloc:1/x=', 'not my class')).ok).toBe(true);
    expect(state.task(id)).toMatchObject({ state: 'failed', allocation: 'alloc:1/x=' });
  });

  it('serves a non-string allocation as given but keeps its own for the claim', () => {
    const state = newState();
    enqueueOne(state, { claim_override: { allocation: 42 } });
    const { claim, servedClaim } = claimAndFetch(state);
    expect(servedClaim.allocation).toBe(42);
    expect(typeof claim.allocation).toBe('string');
  });

  it('takes the served task id back in unclaim, and its own id too', () => {
    const state = newState();
    const id = enqueueOne(state, { config_override: { task_id: 'odd id\r\n' } });
    const first = claimAndFetch(state).claim;
    expect(state.unclaim('odd id\r\n', first.task_token)).toEqual({ ok: true });
    const second = claimAndFetch(state).claim;
    expect(state.unclaim(id, second.task_token)).toEqual({ ok: true });

    expect(state.task(id)).toMatchObject({ state: 'queued', unclaims: 2 });
    expect(state.unclaim('odd id\r\n', first.task_token)).toMatchObject({
      ok: false,
      reason: 'unknown-token',
    });
    const third = claimAndFetch(state).claim;
    expect(state.unclaim('odd id', third.task_token)).toMatchObject({ ok: false, reason: 'bad-request' });
  });

  it('keeps apart tasks served the same odd id: each unclaim and report reaches the token’s task', () => {
    const state = newState();
    const ids = state.enqueue(spec({ config_override: { task_id: 'same' } }), 2);
    if (!ids.ok) throw new Error(ids.message);
    const [a, b] = ids.taskIds as [string, string];
    const claimA = claimAndFetch(state).claim;
    const claimB = claimAndFetch(state).claim;

    expect(state.report('same', claimB.task_token, 'succeeded')).toEqual({ ok: true });
    expect(state.unclaim('same', claimA.task_token)).toEqual({ ok: true });
    expect(state.task(a)).toMatchObject({ state: 'queued', unclaims: 1 });
    expect(state.task(b)).toMatchObject({ state: 'completed', unclaims: 0 });
    // The token names the task; without one the API knows, the name alone finds nothing.
    expect(state.unclaim('same', 'made-up')).toMatchObject({ ok: false, reason: 'unknown-token' });
  });

  it('reset forgets served ids', () => {
    const state = newState();
    enqueueOne(state, { config_override: { task_id: 'odd' } });
    const claim = claimAndFetch(state).claim;
    state.reset();
    expect(state.unclaim('odd', claim.task_token)).toMatchObject({ ok: false, reason: 'unknown-token' });
    expect(state.report('odd', claim.task_token, 'succeeded')).toMatchObject({
      ok: false,
      reason: 'not-found',
    });
  });
});
