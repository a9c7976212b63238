// How a won claim is taken, and how one that cannot be taken ends: every path frees its
// slot and its token once, tells the Runner API what it can, and says so on the bus.
// Hand-written fakes stand in for the ledger, bus and Runner API (the end-to-end paths, with
// the simulator answering as a hostile API, are in e2e/hostile.test.ts).
import { BusPublishError } from '@longshore/bus';
import type { ClaimResponse, TaskConfig } from '@longshore/contracts';
import {
  type ClaimLedger,
  type ClaimRecord,
  LedgerConflictError,
  type PendingClaim,
} from '@longshore/ledger';
import { createLogger, SecretScrubber } from '@longshore/logging';
import {
  type RunnerApi,
  RunnerApiAuthError,
  RunnerApiError,
  RunnerApiMalformedResponseError,
  RunnerApiOversizeError,
} from '@longshore/runner-api';
import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';
import { ClaimBook } from './claim-book.ts';
import { ClaimTaker, classifyStepFailure } from './taker.ts';

const RC = 'acme/small';
const CLAIM: ClaimResponse = {
  task_token: 'task-token-0123456789',
  agent_version: '3',
  resource_class: RC,
  allocation: 'alloc-1',
};
const TASK: TaskConfig = {
  task_id: 't1',
  resource_class: RC,
  job_name: 'build',
  working_directory: '~/project',
  containers: [{ image: 'cimg/base:2024.01', environment: {} }],
  ssh_advertise_addr: '',
};

/** A ledger in a Map, enough for the taker's calls. */
function memoryLedger(overrides: Partial<ClaimLedger> = {}) {
  const pending = new Map<string, PendingClaim>();
  const claims = new Map<string, ClaimRecord>();
  const ledger: Partial<ClaimLedger> = {
    begin: async (_r, p) => {
      pending.set(p.allocation, p);
    },
    abandon: async (_r, a) => {
      pending.delete(a);
    },
    commit: async (runner, p, task) => {
      pending.delete(p.allocation);
      const rec: ClaimRecord = {
        announced: false,
        launched: false,
        taskId: task.task_id,
        resourceClass: p.resourceClass,
        attempt: 1,
        allocation: p.allocation,
        runner,
        claimedAt: p.claimedAt,
        task,
      };
      claims.set(task.task_id, rec);
      return rec;
    },
    mark: async (id, _a, step) => {
      const r = claims.get(id);
      if (r) r[step] = true;
    },
    finish: async (id) => claims.delete(id),
    ...overrides,
  };
  return { ledger: ledger as ClaimLedger, pending, claims };
}

interface Calls {
  fail: { allocation: string; message: string }[];
  unclaim: string[];
  published: { name: string; payload: Record<string, unknown> }[];
}

function setup(opts: {
  api?: Partial<RunnerApi>;
  ledger?: Partial<ClaimLedger>;
  publish?: (name: string) => Promise<void>;
  tries?: number;
  unreadableTries?: number;
}) {
  const calls: Calls = { fail: [], unclaim: [], published: [] };
  const api: Partial<RunnerApi> = {
    taskConfig: async () => TASK,
    fail: async (_t, r) => {
      calls.fail.push({ allocation: r.allocation, message: r.message });
    },
    unclaim: async (id) => {
      calls.unclaim.push(id);
      return 'released';
    },
    ...opts.api,
  };
  const mem = memoryLedger(opts.ledger);
  const bus = {
    publish: async (def: { name: string }, payload: Record<string, unknown>) => {
      await opts.publish?.(def.name);
      calls.published.push({ name: def.name, payload });
      return { seq: 1, duplicate: false };
    },
  };
  const scrubber = new SecretScrubber();
  const capacity = new Capacity(4);
  const book = new ClaimBook(capacity);
  const dropped: string[] = [];
  const dropErrors: string[] = [];
  const t = new ClaimTaker({
    runner: 'r1',
    signal: new AbortController().signal,
    api: api as RunnerApi,
    ledger: mem.ledger,
    bus: bus as never,
    book,
    scrubber,
    logger: createLogger({ name: 'test', level: 'silent' }),
    budget: { tries: opts.tries ?? 3, firstDelayMs: 1, maxDelayMs: 1 },
    unreadableBudget: { tries: opts.unreadableTries ?? 2, firstDelayMs: 1, maxDelayMs: 1 },
    metrics: {
      dropped: (rc, stage, outcome, error) => {
        dropped.push(`${rc}:${stage}/${outcome}`);
        dropErrors.push(error);
      },
    },
  });
  /** As the claim loop does: a slot first, then the claim. */
  const take = async (claim: ClaimResponse = CLAIM) => {
    expect(capacity.tryAcquire(RC)).toBe(true);
    await t.take(RC, claim);
    await t.settled();
  };
  return { t, take, calls, mem, scrubber, capacity, book, dropped, dropErrors };
}

const droppedEvents = (c: Calls) =>
  c.published.filter((p) => p.name === 'claim.dropped').map((p) => p.payload);

describe('ClaimTaker: a claim that can be taken', () => {
  it('files it, announces it, and keeps its slot and token', async () => {
    const s = setup({});
    await s.take();
    expect(s.calls.published.map((p) => p.name)).toEqual(['task.claimed']);
    expect(s.mem.claims.get('t1')?.announced).toBe(true);
    expect(s.capacity.inFlight).toBe(1);
    expect(s.book.byTask('t1', 1)).toBeDefined();
    expect(s.scrubber.has(CLAIM.task_token)).toBe(true);
  });

  it('retries a transient failure and then goes on', async () => {
    let n = 0;
    const s = setup({
      api: {
        taskConfig: async () => {
          if (n++ < 2)
            throw new RunnerApiError('GET /api/v2/task/config: HTTP 503', {
              endpoint: 'taskConfig',
              status: 503,
            });
          return TASK;
        },
      },
    });
    await s.take();
    expect(n).toBe(3);
    expect(s.calls.published.map((p) => p.name)).toEqual(['task.claimed']);
    expect(s.capacity.inFlight).toBe(1);
  });
});

describe('ClaimTaker: a claim that cannot be taken frees its slot and token, once', () => {
  it('fails a task whose config still does not validate after its smaller budget, naming the fields', async () => {
    let n = 0;
    const s = setup({
      tries: 6,
      unreadableTries: 3,
      api: {
        taskConfig: async () => {
          n++;
          throw new RunnerApiMalformedResponseError(
            'GET /api/v2/task/config: HTTP 200 answer is not the expected shape (containers: Invalid input: expected array, received string)',
            {
              endpoint: 'taskConfig',
              status: 200,
              issues: ['containers: Invalid input: expected array, received string'],
            },
          );
        },
      },
    });
    await s.take();
    // Three tries (not six): then failed, not given back, since it would only come back.
    expect(n).toBe(3);
    expect(s.calls.fail).toEqual([
      {
        allocation: 'alloc-1',
        message:
          'Longshore could not run this task: GET /api/v2/task/config: HTTP 200 answer is not the expected shape ' +
          '(containers: Invalid input: expected array, received string) (gave up after 3 tries)',
      },
    ]);
    expect(s.calls.unclaim).toEqual([]);
    expect(droppedEvents(s.calls)).toEqual([
      expect.objectContaining({
        stage: 'config',
        outcome: 'failed',
        allocation: 'alloc-1',
        resource_class: RC,
      }),
    ]);
    expect(droppedEvents(s.calls)[0]).not.toHaveProperty('task_id');
    expect(s.dropped).toEqual([`${RC}:config/failed`]);
    expect(s.dropErrors[0]).toMatch(/containers: Invalid input: expected array, received string/);
    expect(s.capacity.inFlight).toBe(0);
    expect(s.mem.pending.size).toBe(0);
    expect(s.scrubber.has(CLAIM.task_token)).toBe(false);
  });

  it('goes on with a task config that validates on a later try', async () => {
    let n = 0;
    const s = setup({
      unreadableTries: 3,
      api: {
        taskConfig: async () => {
          if (n++ === 0)
            throw new RunnerApiMalformedResponseError('not the expected shape', {
              endpoint: 'taskConfig',
              status: 200,
              issues: ['containers: Invalid input'],
            });
          return TASK;
        },
      },
    });
    await s.take();
    expect(n).toBe(2);
    expect(s.calls.published.map((p) => p.name)).toEqual(['task.claimed']);
    expect(s.calls.fail).toEqual([]);
    expect(s.capacity.inFlight).toBe(1);
  });

  it('gives up a step that keeps failing after its budget, and fails the task with the last error', async () => {
    let n = 0;
    const s = setup({
      tries: 3,
      api: {
        taskConfig: async () => {
          n++;
          throw new RunnerApiError('GET /api/v2/task/config: no answer (ECONNRESET)', {
            endpoint: 'taskConfig',
            status: 0,
          });
        },
      },
    });
    await s.take();
    // Three tries, then one more to learn the task id for giving it back, which fails too.
    expect(n).toBe(4);
    expect(s.calls.fail[0]?.message).toMatch(/ECONNRESET.*gave up after 3 tries/);
    expect(s.capacity.inFlight).toBe(0);
    expect(s.mem.pending.size).toBe(0);
  });

  it('gives an announced-never task back (unclaim) when the bus keeps failing', async () => {
    const s = setup({
      tries: 2,
      publish: async (name) => {
        if (name === 'task.claimed') throw new BusPublishError('publish to task.claimed failed: timeout');
      },
    });
    await s.take();
    expect(s.calls.unclaim).toEqual(['t1']);
    expect(s.calls.fail).toEqual([]);
    expect(s.mem.claims.size).toBe(0);
    expect(droppedEvents(s.calls)).toEqual([
      expect.objectContaining({ stage: 'announce', outcome: 'released', task_id: 't1' }),
    ]);
    expect(s.capacity.inFlight).toBe(0);
  });

  it('leaves a task another open claim holds to that claim, and tells the API nothing', async () => {
    let tries = 0;
    const s = setup({
      ledger: {
        commit: async () => {
          tries++;
          throw new LedgerConflictError('task t1 is already held by another open claim');
        },
      },
    });
    await s.take();
    // Waited for within the budget (the first claim may be ending), then dropped.
    expect(tries).toBe(3);
    expect(s.calls.fail).toEqual([]);
    expect(s.calls.unclaim).toEqual([]);
    expect(droppedEvents(s.calls)).toEqual([
      expect.objectContaining({ stage: 'commit', outcome: 'unreported' }),
    ]);
    expect(s.capacity.inFlight).toBe(0);
  });

  it('files a task given back by its orchestrator once the claim it ended is closed', async () => {
    // The orchestrator of the first claim gave the task back and exited 0; the API handed
    // the task out again before the finisher closed the first claim.
    let open = true;
    const s = setup({
      ledger: {
        commit: async (runner, p, task) => {
          if (open) {
            open = false; // the finisher closes it meanwhile
            throw new LedgerConflictError('task t1 is already held by another open claim (attempt 1)');
          }
          return {
            announced: false,
            launched: false,
            taskId: task.task_id,
            resourceClass: p.resourceClass,
            attempt: 2,
            allocation: p.allocation,
            runner,
            claimedAt: p.claimedAt,
            task,
          };
        },
      },
    });
    await s.take();
    expect(droppedEvents(s.calls)).toEqual([]);
    expect(s.calls.published).toEqual([
      { name: 'task.claimed', payload: expect.objectContaining({ task_id: 't1', attempt: 2 }) },
    ]);
    expect(s.capacity.inFlight).toBe(1);
  });

  it('fails a claim answered with a task of another class', async () => {
    const s = setup({});
    await s.take({ ...CLAIM, resource_class: 'acme/other' });
    expect(s.calls.fail[0]?.message).toContain('acme/other');
    expect(s.calls.published.map((p) => p.name)).toEqual(['claim.dropped']);
    expect(s.capacity.inFlight).toBe(0);
  });

  it('fails a task config for another class than the claim', async () => {
    const s = setup({ api: { taskConfig: async () => ({ ...TASK, resource_class: 'acme/other' }) } });
    await s.take();
    expect(s.calls.fail[0]?.message).toContain('acme/other');
    expect(s.capacity.inFlight).toBe(0);
  });

  it('drops a claim the Runner API says is gone without reporting it', async () => {
    const s = setup({
      api: {
        taskConfig: async () => {
          throw new RunnerApiAuthError('refused', { endpoint: 'taskConfig', status: 401 });
        },
      },
    });
    await s.take();
    expect(s.calls.fail).toEqual([]);
    expect(droppedEvents(s.calls)).toEqual([expect.objectContaining({ outcome: 'gone' })]);
    expect(s.scrubber.has(CLAIM.task_token)).toBe(false);
    expect(s.capacity.inFlight).toBe(0);
  });

  it('takes a fail event answered 404 (the claim is gone) as gone, not as unreported', async () => {
    const s = setup({
      api: {
        taskConfig: async () => ({ ...TASK, resource_class: 'acme/other' }),
        fail: async () => {
          throw new RunnerApiAuthError('POST /api/v2/task/event/fail: HTTP 404', {
            endpoint: 'fail',
            status: 404,
          });
        },
      },
    });
    await s.take();
    expect(droppedEvents(s.calls)).toEqual([expect.objectContaining({ stage: 'config', outcome: 'gone' })]);
    expect(s.dropped).toEqual([`${RC}:config/gone`]);
    expect(s.capacity.inFlight).toBe(0);
  });

  it('gives back a claim it cannot record (Redis down), and frees the slot', async () => {
    const s = setup({
      ledger: {
        begin: async () => {
          throw new Error('redis down');
        },
      },
    });
    await s.take();
    expect(s.calls.unclaim).toEqual(['t1']);
    expect(s.calls.fail).toEqual([]);
    expect(droppedEvents(s.calls)).toEqual([
      expect.objectContaining({
        stage: 'claim',
        outcome: 'released',
        error: 'cannot record the claim: redis down',
      }),
    ]);
    expect(s.scrubber.has(CLAIM.task_token)).toBe(false);
    expect(s.capacity.inFlight).toBe(0);
  });

  it('ignores a second answer with an allocation it already holds', async () => {
    const s = setup({});
    await s.take();
    await s.take();
    expect(s.capacity.inFlight).toBe(1);
    expect(s.calls.published.map((p) => p.name)).toEqual(['task.claimed']);
    expect(s.dropped).toEqual([`${RC}:claim/unreported`]);
  });

  it('frees the slot even when the Runner API cannot be told', async () => {
    const s = setup({
      tries: 1,
      api: {
        taskConfig: async () => {
          throw new RunnerApiError('no answer', { endpoint: 'taskConfig', status: 0 });
        },
        fail: async () => {
          throw new RunnerApiError('no answer', { endpoint: 'fail', status: 0 });
        },
      },
    });
    await s.take();
    expect(droppedEvents(s.calls)).toEqual([expect.objectContaining({ outcome: 'unreported' })]);
    expect(s.capacity.inFlight).toBe(0);
  });
});

describe('classifyStepFailure', () => {
  it('repeats what may go better next time and nothing else', () => {
    const api = (status: number) => new RunnerApiError(`HTTP ${status}`, { endpoint: 'taskConfig', status });
    const malformed = (issues: string[]) =>
      new RunnerApiMalformedResponseError('bad', { endpoint: 'taskConfig', status: 200, issues });
    expect(classifyStepFailure(api(503))).toBe('transient');
    expect(classifyStepFailure(api(0))).toBe('transient');
    expect(classifyStepFailure(api(429))).toBe('transient');
    expect(classifyStepFailure(api(404))).toBe('permanent');
    expect(classifyStepFailure(malformed([]))).toBe('transient');
    expect(classifyStepFailure(malformed(['task_id: Invalid']))).toBe('unreadable');
    expect(
      classifyStepFailure(
        new RunnerApiOversizeError('too large', { endpoint: 'taskConfig', status: 200, limitBytes: 4 << 20 }),
      ),
    ).toBe('permanent');
    for (const status of [401, 403, 404])
      expect(classifyStepFailure(new RunnerApiAuthError('no', { endpoint: 'taskConfig', status }))).toBe(
        'gone',
      );
    expect(classifyStepFailure(new LedgerConflictError('held'))).toBe('conflict');
    expect(classifyStepFailure(new Error('ECONNREFUSED'))).toBe('transient');
  });
});
