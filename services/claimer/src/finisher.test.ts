// The finisher lets go of a task token once its claim is closed, and not before: the
// scrubber must not grow with every task the claimer has ever run. Fakes stand in for the
// bus, ledger and Runner API (the end-to-end paths are in services/claimer/test).
import type { Bus, ConsumerHandle, HandlerResult } from '@longshore/bus';
import type { TaskEnded } from '@longshore/contracts';
import type { ClaimLedger, ClaimRecord } from '@longshore/ledger';
import { createLogger, SecretScrubber } from '@longshore/logging';
import type { RunnerApi } from '@longshore/runner-api';
import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';
import { startFinisher } from './finisher.ts';

const TOKEN = 'task-token-0123456789';
const RC = 'acme/small';

function setup(opts: { failReport?: boolean } = {}) {
  const records = new Map<string, ClaimRecord>([
    [
      't1',
      {
        announced: true,
        launched: true,
        taskId: 't1',
        resourceClass: RC,
        attempt: 1,
        allocation: 'a1',
        runner: 'r1',
        claimedAt: new Date().toISOString(),
      } as ClaimRecord,
    ],
  ]);
  const ledger = {
    get: async (id: string) => records.get(id),
    token: async (id: string) => (records.has(id) ? TOKEN : undefined),
    finish: async (id: string) => records.delete(id),
  } as unknown as ClaimLedger;
  const api = {
    fail: async () => {
      if (opts.failReport) throw new Error('Runner API unavailable');
    },
  } as unknown as RunnerApi;
  let handler: ((ev: { name: string; payload: TaskEnded }) => Promise<HandlerResult>) | undefined;
  const bus = {
    consume: async (_defs: unknown, o: { handler: typeof handler }) => {
      handler = o.handler;
      return {} as ConsumerHandle;
    },
  } as unknown as Bus;
  const scrubber = new SecretScrubber();
  scrubber.add(TOKEN);
  const capacity = new Capacity(4);
  capacity.hold(RC);
  const logger = createLogger({ name: 'test', level: 'silent' });
  const deliver = async (reason: TaskEnded['reason']) =>
    handler?.({
      name: reason === 'succeeded' ? 'task.succeeded' : 'task.failed',
      payload: {
        task_id: 't1',
        resource_class: RC,
        attempt: 1,
        runner: 'r1',
        at: new Date().toISOString(),
        reason,
        to_retry: false,
      },
    });
  return { ledger, api, bus, scrubber, capacity, logger, deliver };
}

describe('finisher: task tokens in the scrubber', () => {
  it('unregisters the token when the claim is closed, once, however often the event comes', async () => {
    const s = setup();
    await startFinisher({ runner: 'r1', ...s, metrics: { finished: () => {} } });
    expect(s.scrubber.has(TOKEN)).toBe(true);
    expect(await s.deliver('exit-code')).toBe('ack');
    expect(s.scrubber.has(TOKEN)).toBe(false);
    expect(s.capacity.inFlight).toBe(0);
    // A redelivery finds no claim and changes nothing.
    s.scrubber.add(TOKEN);
    expect(await s.deliver('exit-code')).toBe('ack');
    expect(s.scrubber.has(TOKEN)).toBe(true);
  });

  it('keeps the token while the claim stays open (the report failed and will be retried)', async () => {
    const s = setup({ failReport: true });
    await startFinisher({ runner: 'r1', ...s, metrics: { finished: () => {} } });
    await expect(s.deliver('image-pull')).rejects.toThrow('Runner API unavailable');
    expect(s.scrubber.has(TOKEN)).toBe(true);
    expect(s.capacity.inFlight).toBe(1);
  });
});
