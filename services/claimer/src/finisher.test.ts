// The finisher closes a claim once: it frees the slot and lets go of the task token (the
// scrubber must not grow with every task the claimer has ever run), and it still does both
// when the ledger lost the claim's record. Fakes stand in for the bus, ledger and Runner API
// (the end-to-end paths are in e2e/).
import type { Bus, ConsumerHandle, HandlerResult } from '@longshore/bus';
import type { TaskEnded } from '@longshore/contracts';
import { type ClaimLedger, type ClaimRecord, LedgerCorruptError } from '@longshore/ledger';
import { createLogger, SecretScrubber } from '@longshore/logging';
import { HttpRunnerApi, type RunnerApi, RunnerApiError } from '@longshore/runner-api';
import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';
import { ClaimBook } from './claim-book.ts';
import { startFinisher } from './finisher.ts';

const TOKEN = 'task-token-0123456789';
const RC = 'acme/small';
const RECORD = {
  announced: true,
  launched: true,
  taskId: 't1',
  resourceClass: RC,
  attempt: 1,
  allocation: 'a1',
  runner: 'r1',
  claimedAt: new Date().toISOString(),
} as ClaimRecord;

function setup(
  opts: {
    failReport?: boolean | Error;
    ledger?: 'kept' | 'lost' | 'corrupt';
    api?: RunnerApi;
    /** The claim is held by this other runner, alive or not; the book may or may not hold it. */
    heldBy?: { runner: string; alive: boolean; inMyBook: boolean };
  } = {},
) {
  const held = opts.heldBy;
  const records = new Map<string, ClaimRecord>(
    opts.ledger === 'lost' ? [] : [['t1', held ? { ...RECORD, runner: held.runner } : RECORD]],
  );
  const adoptions: string[] = [];
  const retried: string[] = [];
  const ledger = {
    get: async (id: string) => {
      if (opts.ledger === 'corrupt') throw new LedgerCorruptError(`unreadable claim record of task ${id}`);
      return records.get(id);
    },
    token: async (id: string) => (records.has(id) && opts.ledger !== 'corrupt' ? TOKEN : undefined),
    finish: async (id: string) => records.delete(id),
    alive: async (runner: string) => runner === held?.runner && held.alive,
    recordRetry: async (id: string, attempt: number) => {
      retried.push(`${id}#${attempt}`);
      return attempt;
    },
  } as unknown as ClaimLedger;
  const failed: { allocation: string; message: string }[] = [];
  const unclaimed: string[] = [];
  const api =
    opts.api ??
    ({
      fail: async (_token: string, r: { allocation: string; message: string }) => {
        if (opts.failReport instanceof Error) throw opts.failReport;
        if (opts.failReport) throw new Error('Runner API unavailable');
        failed.push(r);
      },
      unclaim: async (taskId: string) => {
        unclaimed.push(taskId);
        return 'released';
      },
    } as unknown as RunnerApi);
  let handler: ((ev: { name: string; payload: TaskEnded }) => Promise<HandlerResult>) | undefined;
  const published: string[] = [];
  const bus = {
    consume: async (_defs: unknown, o: { handler: typeof handler }) => {
      handler = o.handler;
      return {} as ConsumerHandle;
    },
    publish: async (def: { name: string }) => {
      published.push(def.name);
    },
  } as unknown as Bus;
  const scrubber = new SecretScrubber();
  scrubber.add(TOKEN);
  const capacity = new Capacity(4);
  const book = new ClaimBook(capacity);
  if (held === undefined || held.inMyBook) {
    book.open({ allocation: 'a1', resourceClass: RC, token: TOKEN, claimedAt: RECORD.claimedAt }, false);
    book.filed(RECORD);
  }
  const misses: string[] = [];
  const closed: string[] = [];
  const logger = createLogger({ name: 'test', level: 'silent' });
  const deliver = async (
    reason: TaskEnded['reason'],
    taskId = 't1',
    more: { name?: string; error?: string; to_retry?: boolean } = {},
  ) =>
    handler?.({
      name: more.name ?? (reason === 'reported-in-pod' ? 'task.reported' : 'task.failed'),
      payload: {
        task_id: taskId,
        resource_class: RC,
        attempt: 1,
        runner: 'scheduler-0',
        at: new Date().toISOString(),
        reason,
        ...(more.error === undefined ? {} : { error: more.error }),
        to_retry: more.to_retry ?? false,
      },
    });
  const start = () =>
    startFinisher({
      runner: 'r1',
      ledger,
      api,
      bus,
      book,
      scrubber,
      logger,
      metrics: { finished: (how) => closed.push(how), ledgerMiss: () => misses.push('miss') },
      onLedgerMiss: () => misses.push('check'),
      othersDelayMs: 1_000,
      // Taking over, as the Adopter does: the claim becomes this runner's, in the ledger and the book.
      adoptFrom: async (runner: string) => {
        adoptions.push(runner);
        records.set('t1', RECORD);
        book.open({ allocation: 'a1', resourceClass: RC, token: TOKEN, claimedAt: RECORD.claimedAt }, false);
        book.filed(RECORD);
        return true;
      },
    });
  return {
    adoptions,
    start,
    scrubber,
    capacity,
    deliver,
    failed,
    unclaimed,
    published,
    retried,
    misses,
    closed,
  };
}

describe('finisher', () => {
  it('unregisters the token when the claim is closed, once, however often the event comes', async () => {
    const s = setup();
    await s.start();
    expect(s.scrubber.has(TOKEN)).toBe(true);
    expect(await s.deliver('exit-code')).toBe('ack');
    expect(s.scrubber.has(TOKEN)).toBe(false);
    expect(s.capacity.inFlight).toBe(0);
    // A redelivery finds no claim and changes nothing.
    s.scrubber.add(TOKEN);
    expect(await s.deliver('exit-code')).toBe('ack');
    expect(s.scrubber.has(TOKEN)).toBe(true);
    expect(s.capacity.inFlight).toBe(0);
    expect(s.misses).toEqual([]);
  });

  // The orchestrator (circleci/runner-init) exits 0 once the task's end was reported from
  // the pod, and non-zero only when it could not report: the runner reports exactly then.
  it('reports nothing for an orchestrator that exited 0, and never counts it as a success', async () => {
    const s = setup();
    await s.start();
    expect(await s.deliver('reported-in-pod')).toBe('ack');
    expect(s.failed).toEqual([]);
    expect(s.unclaimed).toEqual([]);
    expect(s.closed).toEqual(['reported-in-pod']);
    expect(s.capacity.inFlight).toBe(0);
    // It may have been given back: a later claim of the task is the next attempt.
    expect(s.retried).toEqual(['t1#1']);
  });

  it('fails the task of an orchestrator that exited non-zero, with why', async () => {
    const s = setup();
    await s.start();
    const error =
      "the task orchestrator (container 0) exited with code 1 (Error): it could not report the task's end";
    expect(await s.deliver('exit-code', 't1', { name: 'task.interrupted', error })).toBe('ack');
    expect(s.failed).toEqual([{ allocation: 'a1', message: error }]);
    expect(s.closed).toEqual(['failed']);
  });

  it('keeps the token while the claim stays open (the report failed and will be retried)', async () => {
    const s = setup({ failReport: true });
    await s.start();
    await expect(s.deliver('image-pull')).rejects.toThrow('Runner API unavailable');
    expect(s.scrubber.has(TOKEN)).toBe(true);
    expect(s.capacity.inFlight).toBe(1);
  });

  it('closes the claim when the API answers the fail event 404: the claim is gone, not worth another try', async () => {
    // The real client, answered as CircleCI's fake Runner API answers a token it does not know.
    const api = new HttpRunnerApi({
      baseUrl: 'http://runner.test',
      fetch: async () => new Response(null, { status: 404 }),
    });
    const s = setup({ api });
    await s.start();
    expect(await s.deliver('image-pull')).toBe('ack');
    expect(s.capacity.inFlight).toBe(0);
    expect(s.scrubber.has(TOKEN)).toBe(false);
    expect(s.closed).toEqual(['gone']);
  });

  it('closes the claim on any other refusal of the report (a 4xx), and keeps it for a retry on a 503', async () => {
    const refused = setup({
      failReport: new RunnerApiError('POST /api/v2/task/event/fail: HTTP 409', {
        endpoint: 'fail',
        status: 409,
      }),
    });
    await refused.start();
    expect(await refused.deliver('image-pull')).toBe('ack');
    expect(refused.capacity.inFlight).toBe(0);
    expect(refused.closed).toEqual(['unreported']);

    const flaky = setup({
      failReport: new RunnerApiError('POST /api/v2/task/event/fail: HTTP 503', {
        endpoint: 'fail',
        status: 503,
      }),
    });
    await flaky.start();
    await expect(flaky.deliver('image-pull')).rejects.toThrow('HTTP 503');
    expect(flaky.capacity.inFlight).toBe(1);
    expect(flaky.closed).toEqual([]);
  });

  for (const state of ['lost', 'corrupt'] as const) {
    it(`closes a claim of this runner from memory when its ledger record is ${state}`, async () => {
      const s = setup({ ledger: state });
      await s.start();
      expect(await s.deliver('image-pull')).toBe('ack');
      // Reported with what memory holds, the slot freed, and the loss made known.
      expect(s.failed).toEqual([{ allocation: 'a1', message: 'task ended: image-pull' }]);
      expect(s.capacity.inFlight).toBe(0);
      expect(s.scrubber.has(TOKEN)).toBe(false);
      expect(s.misses).toEqual(['miss', 'check']);
    });
  }

  it('leaves alone an ended task it does not hold', async () => {
    const s = setup({ ledger: 'lost' });
    await s.start();
    expect(await s.deliver('image-pull', 'someone-elses')).toBe('ack');
    expect(s.failed).toEqual([]);
    expect(s.capacity.inFlight).toBe(1);
    expect(s.misses).toEqual([]);
  });

  describe('an ending of a claim another runner holds', () => {
    it('is asked for again while that runner is alive, and nothing is reported', async () => {
      const s = setup({ heldBy: { runner: 'r2', alive: true, inMyBook: false } });
      await s.start();
      expect(await s.deliver('image-pull')).toEqual({ nak: 1_000 });
      expect(s.failed).toEqual([]);
      expect(s.adoptions).toEqual([]);
    });

    it('is taken over and finished here once that runner is dead', async () => {
      const s = setup({ heldBy: { runner: 'r2', alive: false, inMyBook: false } });
      await s.start();
      expect(await s.deliver('image-pull')).toBe('ack');
      expect(s.adoptions).toEqual(['r2']);
      expect(s.failed).toEqual([{ allocation: 'a1', message: 'task ended: image-pull' }]);
      expect(s.capacity.inFlight).toBe(0);
    });

    it('frees only the slot when the claim was taken over from this runner', async () => {
      const s = setup({ heldBy: { runner: 'r2', alive: true, inMyBook: true } });
      await s.start();
      expect(s.capacity.inFlight).toBe(1);
      expect(await s.deliver('image-pull')).toBe('ack');
      expect(s.capacity.inFlight).toBe(0);
      expect(s.scrubber.has(TOKEN)).toBe(false);
      expect(s.failed).toEqual([]);
    });
  });
});
