// The GC's decisions: what is old, what is orphaned, which claims lost their pod.
import { Labels, MANAGED_BY, type TaskConfig, taskObjectName } from '@longshore/contracts';
import type { ClaimRecord } from '@longshore/ledger';
import { describe, expect, it } from 'vitest';
import { type ObjectInfo, planSweep, type SweepInput } from './plan.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const MIN = 60_000;

const ours = (name: string, ageMs: number, extra: Partial<ObjectInfo> = {}): ObjectInfo => ({
  name,
  uid: `uid-${name}`,
  labels: { [Labels.managedBy]: MANAGED_BY, [Labels.taskId]: name },
  createdAt: NOW - ageMs,
  ...extra,
});

const claim = (taskId: string, ageMs: number, launched: boolean): ClaimRecord => ({
  announced: true,
  launched,
  taskId,
  resourceClass: 'acme/small',
  attempt: 1,
  allocation: `alloc-${taskId}`,
  runner: 'r1',
  claimedAt: new Date(NOW - ageMs).toISOString(),
  task: {} as TaskConfig,
});

const plan = (p: Partial<SweepInput>) =>
  planSweep({
    pods: [],
    secrets: [],
    claims: [],
    now: NOW,
    thresholdMs: 300 * MIN,
    claimGraceMs: 3 * MIN,
    orphanGraceMs: MIN,
    ...p,
  });

describe('planSweep', () => {
  it('deletes our objects older than the threshold, and never anything without our label', () => {
    const t = taskObjectName('t1', 1);
    const foreign: ObjectInfo = {
      name: 'theirs',
      uid: 'u',
      labels: { [Labels.managedBy]: 'circleci' },
      createdAt: 0,
    };
    const unlabelled: ObjectInfo = { name: 'bare', uid: 'u2', labels: {}, createdAt: 0 };
    const p = plan({
      pods: [ours('old', 301 * MIN), ours(t, 10 * MIN, { phase: 'Running' }), foreign, unlabelled],
      secrets: [ours('old', 301 * MIN), ours(t, 10 * MIN), foreign, unlabelled],
      claims: [claim('t1', 10 * MIN, true)],
    });
    expect(p.pods).toEqual([{ name: 'old', uid: 'uid-old', reason: 'expired' }]);
    expect(p.secrets).toEqual([{ name: 'old', uid: 'uid-old', reason: 'expired' }]);
    expect(p.interrupt).toEqual([]);
    expect(p.reannounce).toEqual([]);
  });

  it('deletes a live task pod with no claim once past the orphan grace, leaving finished ones to the threshold', () => {
    const p = plan({
      pods: [
        ours('lost', 2 * MIN, { phase: 'Running' }),
        ours('just-launched', 10_000, { phase: 'Pending' }),
        ours('kept-failed', 2 * MIN, { phase: 'Failed' }),
        ours('not-a-task', 2 * MIN, { labels: { [Labels.managedBy]: MANAGED_BY } }),
      ],
    });
    expect(p.pods.map((d) => [d.name, d.reason])).toEqual([['lost', 'orphaned']]);
  });

  it('after the ledger lost its data, counts the orphan grace of a pod from the new generation', () => {
    const pods = [ours('running', 30 * MIN, { phase: 'Running' })];
    // The ledger started again 20 s ago: claimers are still writing their claims back.
    expect(plan({ pods, ledgerSince: NOW - 20_000 }).pods).toEqual([]);
    // Past the grace of the new generation, a pod still without a claim is an orphan.
    expect(plan({ pods, ledgerSince: NOW - 2 * MIN }).pods.map((d) => d.name)).toEqual(['running']);
    // An old generation changes nothing; nor does expiry wait for it.
    expect(plan({ pods, ledgerSince: NOW - 300 * MIN }).pods.map((d) => d.name)).toEqual(['running']);
    const old = [ours('old', 301 * MIN, { phase: 'Running' })];
    expect(plan({ pods: old, ledgerSince: NOW }).pods).toEqual([
      { name: 'old', uid: 'uid-old', reason: 'expired' },
    ]);
  });

  it('deletes a task Secret whose pod is gone, unless its claim is not launched yet', () => {
    const waiting = taskObjectName('w', 1);
    const p = plan({
      secrets: [
        ours('no-pod', 2 * MIN),
        ours('has-pod', 2 * MIN),
        ours('young', 10_000),
        ours(waiting, 2 * MIN),
      ],
      pods: [ours('has-pod', 2 * MIN, { phase: 'Running' })],
      claims: [claim('w', MIN, false)],
    });
    expect(p.secrets.map((d) => [d.name, d.reason])).toEqual([['no-pod', 'orphaned']]);
  });

  it('interrupts a launched claim whose pod is gone and re-announces a never-launched one, after the grace', () => {
    const p = plan({
      claims: [
        claim('launched-lost', 4 * MIN, true),
        claim('never-launched', 4 * MIN, false),
        claim('young', 2 * MIN, false),
        claim('has-pod', 4 * MIN, true),
      ],
      pods: [ours(taskObjectName('has-pod', 1), 4 * MIN, { phase: 'Running' })],
    });
    expect(p.interrupt.map((c) => c.taskId)).toEqual(['launched-lost']);
    expect(p.reannounce.map((c) => c.taskId)).toEqual(['never-launched']);
  });
});
