// The launcher's retry budget: a claim whose pod cannot be created is redelivered until its
// last delivery, which ends the task as not started instead of dropping the claim unseen.
// Hand-written fakes stand in for the bus, ledger and apiserver (the pod paths against the
// real apiserver are in services/claimer/test).
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Bus } from '@longshore/bus';
import type { TaskClaimed } from '@longshore/contracts';
import type { ClaimLedger } from '@longshore/ledger';
import { createLogger } from '@longshore/logging';
import { describe, expect, it } from 'vitest';
import { LAUNCH_TRIES, Launcher } from './launcher.ts';
import type { SchedulerSettings } from './settings.ts';

const CLAIM: TaskClaimed = {
  task_id: 't1',
  resource_class: 'acme/spot',
  attempt: 1,
  runner: 'claimer-0',
  at: new Date().toISOString(),
  allocation: 'a1',
};

function setup(retriesUsed: number) {
  const published: { name: string; payload: Record<string, unknown> }[] = [];
  const deleted: string[] = [];
  const outcomes: string[] = [];
  const launcher = new Launcher({
    bus: {
      publish: async (def: { name: string }, payload: Record<string, unknown>) => {
        published.push({ name: def.name, payload });
        return { seq: 1, duplicate: false };
      },
    } as unknown as Bus,
    core: {
      deleteNamespacedSecret: async ({ name }: { name: string }) => deleted.push(`secret/${name}`),
      deleteNamespacedPod: async ({ name }: { name: string }) => deleted.push(`pod/${name}`),
    } as unknown as CoreV1Api,
    ledger: {
      get: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      },
      retriesUsed: async () => retriesUsed,
    } as unknown as ClaimLedger,
    settings: {
      runnerName: 'scheduler-0',
      namespace: 'tasks',
      resourceClasses: { 'acme/spot': { enableUnsafeRetries: true } },
    } as unknown as SchedulerSettings,
    logger: createLogger({ name: 'test', level: 'silent' }),
    metrics: { launched: (o) => outcomes.push(o) },
  });
  return { launcher, published, deleted, outcomes };
}

describe('Launcher: a pod that cannot be created', () => {
  it('is retried by redelivery until the last try', async () => {
    const s = setup(0);
    for (let redelivered = 0; redelivered < LAUNCH_TRIES - 1; redelivered++)
      await expect(s.launcher.launch(CLAIM, redelivered)).rejects.toThrow('ECONNREFUSED');
    expect(s.published).toEqual([]);
  });

  it('ends the task as not started on the last try, given back where the class allows retries', async () => {
    const s = setup(0);
    expect(await s.launcher.launch(CLAIM, LAUNCH_TRIES - 1)).toBe('ack');
    expect(s.published).toEqual([
      {
        name: 'task.interrupted',
        payload: expect.objectContaining({
          task_id: 't1',
          attempt: 1,
          reason: 'agent-not-started',
          error: `the task pod could not be created in ${LAUNCH_TRIES} tries: connect ECONNREFUSED 127.0.0.1:6379`,
          to_retry: true,
        }),
      },
    ]);
    expect(s.deleted).toHaveLength(2);
    expect(s.outcomes).toEqual(['gave-up']);
  });

  it('is not given back once the task has used its retries', async () => {
    const s = setup(3);
    await s.launcher.launch(CLAIM, LAUNCH_TRIES - 1);
    expect(s.published[0]?.payload.to_retry).toBe(false);
  });
});
