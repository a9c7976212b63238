import type { TaskEnded } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { formatEvent, formatTime, matchesFilters, shortTaskId } from './timeline.ts';

const AT = '2025-03-04T12:03:04.123Z';
const TASK = '3f2a9c1d-5b6e-4f70-8a91-0c2d3e4f5a6b';
const ref = { task_id: TASK, resource_class: 'acme/small', attempt: 1, runner: 'runner-a', at: AT };
const utc = { utc: true };
const ended = (over: Partial<TaskEnded>): TaskEnded => ({
  ...ref,
  reason: 'reported-in-pod',
  to_retry: false,
  ...over,
});

describe('formatEvent', () => {
  it('task.claimed: time, short id, attempt, event, class, runner', () => {
    expect(formatEvent('task.claimed', { ...ref, allocation: 'alloc-1' }, utc)).toBe(
      '12:03:04.123  task 3f2a9c1d…  #1  claimed      acme/small  runner=runner-a',
    );
  });

  it('task.scheduled and task.running: pod, and node when known', () => {
    const pod = { ...ref, pod: 'ccita-3f2a-1', namespace: 'tasks' };
    expect(formatEvent('task.scheduled', pod, utc)).toBe(
      '12:03:04.123  task 3f2a9c1d…  #1  scheduled    acme/small  pod=tasks/ccita-3f2a-1 runner=runner-a',
    );
    expect(formatEvent('task.running', { ...pod, node: 'kwok-1', attempt: 2 }, utc)).toBe(
      '12:03:04.123  task 3f2a9c1d…  #2  running      acme/small  pod=tasks/ccita-3f2a-1 node=kwok-1 runner=runner-a',
    );
  });

  it('task.scheduled: each warning of the scheduler, quoted, after the pod', () => {
    const line = formatEvent(
      'task.scheduled',
      {
        ...ref,
        pod: 'ccita-3f2a-1',
        namespace: 'tasks',
        warnings: [
          'service container db (postgres:16): user "postgres" is not a numeric uid[:gid] or root',
          `long ${'w'.repeat(300)}`,
        ],
      },
      utc,
    );
    expect(line).toBe(
      '12:03:04.123  task 3f2a9c1d…  #1  scheduled    acme/small  pod=tasks/ccita-3f2a-1 ' +
        'warning="service container db (postgres:16): user \\"postgres\\" is not a numeric uid[:gid] or root" ' +
        `warning="long ${'w'.repeat(195)}…" runner=runner-a`,
    );
  });

  it('task.reported: the pod reported its own end; never printed as a success, no reason to repeat', () => {
    const line = formatEvent('task.reported', ended({ pod: 'p', namespace: 'tasks', exit_code: 0 }), utc);
    expect(line).toBe(
      '12:03:04.123  task 3f2a9c1d…  #1  reported     acme/small  exit_code=0 pod=tasks/p runner=runner-a',
    );
    expect(line).not.toMatch(/succe/);
  });

  it('task.failed: reason and the error, quoted on one line', () => {
    const line = formatEvent(
      'task.failed',
      ended({ reason: 'image-pull', error: 'could not pull the task image (ErrImagePull)\nmore', pod: 'p' }),
      utc,
    );
    expect(line).toBe(
      '12:03:04.123  task 3f2a9c1d…  #1  failed       acme/small  reason=image-pull ' +
        'error="could not pull the task image (ErrImagePull)\\nmore" pod=p runner=runner-a',
    );
    expect(line).not.toContain('\n');
  });

  it('task.interrupted: reason and to_retry; long errors are clipped', () => {
    const line = formatEvent(
      'task.interrupted',
      ended({ reason: 'evicted', to_retry: true, error: 'x'.repeat(500) }),
      utc,
    );
    expect(line).toMatch(
      /^12:03:04\.123 {2}task 3f2a9c1d… {2}#1 {2}interrupted {2}acme\/small {2}reason=evicted error="x{200}…" to_retry=true runner=runner-a$/,
    );
  });

  it('task.released: reason and retries used', () => {
    expect(formatEvent('task.released', { ...ref, reason: 'evicted', retries_used: 1 }, utc)).toBe(
      '12:03:04.123  task 3f2a9c1d…  #1  released     acme/small  reason=evicted retries_used=1 runner=runner-a',
    );
  });

  it('gc.swept: what was swept and how long it took', () => {
    expect(
      formatEvent(
        'gc.swept',
        {
          runner: 'gc-0',
          at: AT,
          duration_ms: 120.4,
          pods_deleted: 2,
          secrets_deleted: 2,
          claims_reannounced: 0,
          claims_interrupted: 1,
          errors: 0,
        },
        utc,
      ),
    ).toBe(
      '12:03:04.123  gc                  swept        pods=2 secrets=2 reannounced=0 interrupted=1 errors=0 took=120ms runner=gc-0',
    );
  });

  it('claim.dropped: stage, what the API was told and why; by task when its id is known', () => {
    const dropped = {
      runner: 'runner-a',
      resource_class: 'acme/small',
      allocation: 'alloc-77',
      at: AT,
      stage: 'config' as const,
      outcome: 'failed' as const,
      error: 'containers.0.image: not an image reference',
    };
    expect(formatEvent('claim.dropped', dropped, utc)).toBe(
      '12:03:04.123  claim alloc-77      dropped      acme/small  stage=config outcome=failed error="containers.0.image: not an image reference" allocation=alloc-77 runner=runner-a',
    );
    expect(
      formatEvent(
        'claim.dropped',
        { ...dropped, task_id: ref.task_id, stage: 'announce', outcome: 'released' },
        utc,
      ),
    ).toMatch(
      /^12:03:04\.123 {2}task 3f2a9c1d… {2}.. {2}dropped {6}acme\/small {2}stage=announce outcome=released /,
    );
  });

  it('ledger.rebuilt: what was written back', () => {
    expect(
      formatEvent(
        'ledger.rebuilt',
        {
          runner: 'runner-a',
          at: AT,
          generation_since: AT,
          restored_claims: 3,
          restored_pending: 1,
          errors: 0,
        },
        utc,
      ),
    ).toBe(
      `12:03:04.123  ledger              rebuilt      claims=3 pending=1 errors=0 since=${AT} runner=runner-a`,
    );
  });

  it('scaler.decision: demand, desired and previous size, and whether it scaled', () => {
    const decision = {
      resource_class: 'acme/vm',
      pool: 'runners',
      namespace: 'vms',
      at: AT,
      unclaimed_tasks: 3,
      running_tasks: 1,
      desired_vms: 4,
      previous_vms: 2,
      scaled: true,
    };
    expect(formatEvent('scaler.decision', decision, utc)).toBe(
      '12:03:04.123  scaler              decision     acme/vm  unclaimed=3 running=1 desired=4 was=2 scaled pool=vms/runners',
    );
    expect(formatEvent('scaler.decision', { ...decision, previous_vms: null, scaled: false }, utc)).toContain(
      'was=unknown unchanged',
    );
  });

  it('constraints.status: enabled or not, failures, and the reason when there is one', () => {
    const status = {
      resource_class: 'acme/small',
      at: AT,
      enabled: false,
      consecutive_failures: 3,
      reason: 'no node has 64 CPUs',
    };
    expect(formatEvent('constraints.status', status, utc)).toBe(
      '12:03:04.123  constraints         status       acme/small  disabled failures=3 reason="no node has 64 CPUs"',
    );
    expect(
      formatEvent(
        'constraints.status',
        { ...status, enabled: true, consecutive_failures: 0, reason: '' },
        utc,
      ),
    ).toBe('12:03:04.123  constraints         status       acme/small  enabled failures=0');
  });

  it('prints only the fields it knows', () => {
    const payload = { ...ref, allocation: 'alloc-1', task_token: 'SECRET', extra: 'SECRET' };
    expect(formatEvent('task.claimed', payload, utc)).not.toContain('SECRET');
  });
});

describe('matchesFilters', () => {
  const claimedEvt = { ...ref, allocation: 'a' };
  const gc = {
    runner: 'gc-0',
    at: AT,
    duration_ms: 1,
    pods_deleted: 0,
    secrets_deleted: 0,
    claims_reannounced: 0,
    claims_interrupted: 0,
    errors: 0,
  };

  it('passes everything without filters', () => {
    expect(matchesFilters(claimedEvt, {})).toBe(true);
    expect(matchesFilters(gc, {})).toBe(true);
  });

  it('matches --task by id, prefix or a short id as printed', () => {
    expect(matchesFilters(claimedEvt, { task: TASK })).toBe(true);
    expect(matchesFilters(claimedEvt, { task: '3f2a' })).toBe(true);
    expect(matchesFilters(claimedEvt, { task: shortTaskId(TASK) })).toBe(true);
    expect(matchesFilters(claimedEvt, { task: 'ffff' })).toBe(false);
    expect(matchesFilters(gc, { task: '3f2a' })).toBe(false);
  });

  it('matches --resource-class exactly, and drops events without one', () => {
    expect(matchesFilters(claimedEvt, { resourceClass: 'acme/small' })).toBe(true);
    expect(matchesFilters(claimedEvt, { resourceClass: 'acme/sm' })).toBe(false);
    expect(matchesFilters(gc, { resourceClass: 'acme/small' })).toBe(false);
    expect(matchesFilters(claimedEvt, { task: '3f2a', resourceClass: 'acme/big' })).toBe(false);
  });
});

describe('formatTime and shortTaskId', () => {
  it('pads every part', () => {
    expect(formatTime('2025-01-01T01:02:03.004Z', true)).toBe('01:02:03.004');
  });

  it('keeps short ids whole', () => {
    expect(shortTaskId('t1')).toBe('t1');
    expect(shortTaskId('123456789')).toBe('123456789');
    expect(shortTaskId('1234567890')).toBe('12345678…');
  });
});
