// The launcher's retry budget: a claim whose pod cannot be created is redelivered until its
// last delivery, which ends the task as not started instead of dropping the claim unseen.
// Hand-written fakes stand in for the bus, ledger and apiserver (the pod paths against the
// real apiserver are in e2e/).
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import type { Bus } from '@longshore/bus';
import { LongshoreConfig, parseConfig } from '@longshore/config';
import { type TaskClaimed, TaskConfig } from '@longshore/contracts';
import type { ClaimLedger, ClaimRecord } from '@longshore/ledger';
import { createLogger } from '@longshore/logging';
import { describe, expect, it } from 'vitest';
import { LAUNCH_TRIES, Launcher } from './launcher.ts';
import { type SchedulerSettings, schedulerSettings } from './settings.ts';

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

describe('Launcher: a pod the apiserver refuses', () => {
  it("fails the task with the apiserver's reason and deletes whichever object was taken", async () => {
    const cfg = parseConfig({
      schema: LongshoreConfig,
      text: 'agent: {resourceClasses: {acme/spot: {token: tok-0000000001}}}',
      source: 'values.yaml',
      env: {},
    });
    const record = {
      announced: true,
      launched: false,
      taskId: 't1',
      resourceClass: 'acme/spot',
      attempt: 1,
      allocation: 'a1',
      runner: 'claimer-0',
      claimedAt: new Date().toISOString(),
      task: TaskConfig.parse({
        task_id: 't1',
        resource_class: 'acme/spot',
        containers: [{ image: 'cimg/base:2024.01' }],
      }),
    } as ClaimRecord;
    const published: { name: string; payload: Record<string, unknown> }[] = [];
    const deleted: string[] = [];
    const launcher = new Launcher({
      bus: {
        publish: async (def: { name: string }, payload: Record<string, unknown>) => {
          published.push({ name: def.name, payload });
          return { seq: 1, duplicate: false };
        },
      } as unknown as Bus,
      core: {
        createNamespacedSecret: async () => ({}),
        createNamespacedPod: async () => {
          const status = {
            kind: 'Status',
            code: 422,
            message: 'Pod "x" is invalid: spec.containers[0].image: Required value',
          };
          throw new ApiException(422, 'Unprocessable Entity', JSON.stringify(status), {});
        },
        deleteNamespacedSecret: async ({ name }: { name: string }) => deleted.push(`secret/${name}`),
        deleteNamespacedPod: async ({ name }: { name: string }) => deleted.push(`pod/${name}`),
      } as unknown as CoreV1Api,
      ledger: {
        get: async () => record,
        token: async () => 'task-token-00000001',
        mark: async () => {},
      } as unknown as ClaimLedger,
      settings: schedulerSettings(cfg, 'scheduler-0', 'tasks'),
      logger: createLogger({ name: 'test', level: 'silent' }),
      metrics: { launched: () => {} },
    });
    expect(await launcher.launch(CLAIM)).toBe('ack');
    expect(published).toEqual([
      {
        name: 'task.failed',
        payload: expect.objectContaining({
          reason: 'rejected',
          error: expect.stringContaining('Required value'),
        }),
      },
    ]);
    expect(deleted).toHaveLength(2);
  });
});

describe('Launcher: when the ledger lost what it knew', () => {
  const make = (
    get: () => Promise<ClaimRecord | undefined>,
    seen: boolean,
    token: () => Promise<string | undefined> = async () => 'task-token-00000001',
  ) => {
    const created: string[] = [];
    const outcomes: string[] = [];
    const launcher = new Launcher({
      bus: { publish: async () => ({ seq: 1, duplicate: false }) } as unknown as Bus,
      core: {
        createNamespacedSecret: async () => created.push('secret'),
        createNamespacedPod: async () => created.push('pod'),
      } as unknown as CoreV1Api,
      ledger: {
        get,
        token,
        mark: async () => {},
      } as unknown as ClaimLedger,
      settings: {
        runnerName: 'scheduler-0',
        namespace: 'tasks',
        resourceClasses: {},
      } as unknown as SchedulerSettings,
      logger: createLogger({ name: 'test', level: 'silent' }),
      metrics: { launched: (o) => outcomes.push(o) },
      seenPod: () => seen,
    });
    return { launcher, created, outcomes };
  };

  it('asks again for a young claim whose record is missing, and drops an old one as finished', async () => {
    const m = make(async () => undefined, false);
    expect(await m.launcher.launch(CLAIM)).toEqual({ nak: 5_000 });
    const old = { ...CLAIM, at: new Date(Date.now() - 3_600_000).toISOString() };
    expect(await m.launcher.launch(old)).toBe('ack');
    expect(m.outcomes).toEqual(['waiting-for-record', 'stale']);
  });

  it('asks again for a young claim whose token is missing (a failover kept the record, not the token)', async () => {
    const rec = { taskId: 't1', attempt: 1, launched: false, resourceClass: 'acme/spot' } as ClaimRecord;
    const m = make(
      async () => rec,
      false,
      async () => undefined,
    );
    expect(await m.launcher.launch(CLAIM)).toEqual({ nak: 5_000 });
    const old = { ...CLAIM, at: new Date(Date.now() - 3_600_000).toISOString() };
    expect(await m.launcher.launch(old)).toBe('ack');
    expect(m.created).toEqual([]);
    expect(m.outcomes).toEqual(['waiting-for-record', 'no-token']);
  });

  it('never creates a pod its watch has seen, even when the record says it was not launched', async () => {
    const rec = { taskId: 't1', attempt: 1, launched: false, resourceClass: 'acme/spot' } as ClaimRecord;
    const m = make(async () => rec, true);
    expect(await m.launcher.launch(CLAIM)).toBe('ack');
    expect(m.created).toEqual([]);
    expect(m.outcomes).toEqual(['already-launched']);
  });
});
