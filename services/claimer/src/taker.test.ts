// A claim that ends before it was ever run lets go of its task token too: when the Runner
// API refuses the token (the claim is gone) and when the claim is given back because the
// ledger could not record it. Fakes stand in for the ledger, bus and Runner API.
import type { Bus } from '@longshore/bus';
import type { ClaimResponse } from '@longshore/contracts';
import type { ClaimLedger } from '@longshore/ledger';
import { createLogger, SecretScrubber } from '@longshore/logging';
import { type RunnerApi, RunnerApiAuthError } from '@longshore/runner-api';
import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';
import { ClaimTaker } from './taker.ts';

const RC = 'acme/small';
const CLAIM: ClaimResponse = {
  task_token: 'task-token-0123456789',
  agent_version: '3',
  resource_class: RC,
  allocation: 'alloc-1',
};

function taker(ledger: Partial<ClaimLedger>, api: Partial<RunnerApi>) {
  const scrubber = new SecretScrubber();
  const capacity = new Capacity(4);
  capacity.hold(RC);
  const t = new ClaimTaker({
    runner: 'r1',
    signal: new AbortController().signal,
    api: api as RunnerApi,
    ledger: ledger as ClaimLedger,
    bus: {} as Bus,
    capacity,
    scrubber,
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
  return { t, scrubber, capacity };
}

describe('ClaimTaker: task tokens in the scrubber', () => {
  it('unregisters the token of a claim the Runner API says is gone', async () => {
    const { t, scrubber, capacity } = taker(
      { begin: async () => {}, abandon: async () => {} },
      {
        taskConfig: async () => {
          throw new RunnerApiAuthError('refused', { endpoint: 'taskConfig', status: 401 });
        },
      },
    );
    await t.take(RC, CLAIM);
    expect(scrubber.has(CLAIM.task_token)).toBe(false);
    expect(capacity.inFlight).toBe(0);
  });

  it('unregisters the token of a claim given back because the ledger could not record it', async () => {
    let unclaimed = false;
    const { t, scrubber, capacity } = taker(
      {
        begin: async () => {
          throw new Error('redis down');
        },
      },
      {
        taskConfig: async () => ({ task_id: 't1' }) as Awaited<ReturnType<RunnerApi['taskConfig']>>,
        unclaim: async () => {
          unclaimed = true;
          return 'released';
        },
      },
    );
    await t.take(RC, CLAIM);
    expect(unclaimed).toBe(true);
    expect(scrubber.has(CLAIM.task_token)).toBe(false);
    expect(capacity.inFlight).toBe(0);
  });
});
