// The claim loop's answers to a refused token and to a claim answer it cannot read, with a
// hand-written Runner API and the real claim state board over a KV bucket in memory.
import type { ClaimState } from '@longshore/contracts';
import { createLogger } from '@longshore/logging';
import {
  type ClaimOutcome,
  type RunnerApi,
  RunnerApiAuthError,
  RunnerApiError,
  RunnerApiMalformedResponseError,
} from '@longshore/runner-api';
import { describe, expect, it } from 'vitest';
import type { BackoffPolicy } from './backoff.ts';
import { Capacity } from './capacity.ts';
import { runClaimLoop } from './claim-loop.ts';
import { ClaimStateBoard } from './claim-state.ts';
import type { ClaimTaker } from './taker.ts';

const RC = 'acme/small';
const RUNNER = { name: 'r1', hostname: 'h', ip: '10.0.0.1', version: '1' };
const QUICK: BackoffPolicy = {
  idleMinMs: 1,
  idleMaxMs: 1,
  errorMinMs: 1,
  errorMaxMs: 1,
  refusedMinMs: 1,
  refusedMaxMs: 1,
};

/**
 * Runs the loop for one class against `answers` (one per claim call; an Error is thrown)
 * and stops it after the last; returns the claim states the board wrote and the metrics.
 */
async function run(answers: (ClaimOutcome | Error)[]) {
  const written: ClaimState[] = [];
  const board = new ClaimStateBoard({
    runner: 'r1',
    classes: [RC],
    kv: {
      put: async (_key, value) => {
        written.push(value as ClaimState);
        return written.length;
      },
      delete: async () => {},
    },
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
  const stop = new AbortController();
  const claims: string[] = [];
  const dropped: string[] = [];
  const api: Partial<RunnerApi> = {
    claim: async () => {
      const next = answers.shift();
      if (answers.length === 0) stop.abort();
      if (next === undefined) return { kind: 'no-work' };
      if (next instanceof Error) throw next;
      return next;
    },
  };
  const capacity = new Capacity(2);
  await runClaimLoop({
    resourceClass: RC,
    token: 'rc-token',
    api: api as RunnerApi,
    identity: RUNNER,
    capacity,
    taker: {} as ClaimTaker,
    whyDisabled: () => undefined,
    gateChanged: async () => {},
    policy: QUICK,
    logger: createLogger({ name: 'test', level: 'silent' }),
    metrics: {
      claim: (outcome) => claims.push(outcome),
      dropped: (stage, outcome, error) => dropped.push(`${stage}/${outcome}: ${error}`),
    },
    report: (e) => board.report(RC, e),
    signal: stop.signal,
  });
  await board.settled();
  return { written, claims, dropped, capacity, state: board.state(RC) };
}

const refusal = (status: number) =>
  new RunnerApiAuthError(`POST /api/v3/runner/claim: HTTP ${status}`, { endpoint: 'claim', status });

describe('claim loop', () => {
  it('puts the class in token-refused on 401, 403 and 404, and leaves it at the first answer that takes the token', async () => {
    const r = await run([refusal(401), refusal(403), refusal(404), { kind: 'no-work' }]);
    expect(r.claims).toEqual(['token-refused', 'token-refused', 'token-refused', 'no-work']);
    const refused = r.written.filter((w) => w.state === 'token-refused');
    expect(refused.map((w) => w.reason)).toEqual([
      'POST /api/v3/runner/claim: HTTP 401',
      'POST /api/v3/runner/claim: HTTP 403',
      'POST /api/v3/runner/claim: HTTP 404',
    ]);
    // Refused since the first refusal, for as long as refusals go on.
    expect(new Set(refused.map((w) => w.since)).size).toBe(1);
    expect(r.written.at(-1)).toMatchObject({ state: 'claiming', reason: '', last_error: null });
    expect(r.state?.state).toBe('claiming');
    expect(r.capacity.inFlight).toBe(0);
  });

  it('keeps claiming through other errors, showing the last one, and never calls them refused', async () => {
    const r = await run([
      new RunnerApiError('POST /api/v3/runner/claim: HTTP 503', { endpoint: 'claim', status: 503 }),
      new RunnerApiError('POST /api/v3/runner/claim: HTTP 400', { endpoint: 'claim', status: 400 }),
    ]);
    expect(r.claims).toEqual(['error', 'error']);
    expect(r.written.every((w) => w.state === 'claiming')).toBe(true);
    expect(r.state?.last_error?.error).toBe('POST /api/v3/runner/claim: HTTP 400');
  });

  it('counts a claim answer it cannot read as a claim dropped at stage claim, on its class', async () => {
    const message =
      'POST /api/v3/runner/claim: HTTP 200 answer is not the expected shape (allocation: Invalid input)';
    const r = await run([
      new RunnerApiMalformedResponseError(message, {
        endpoint: 'claim',
        status: 200,
        issues: ['allocation: Invalid input'],
      }),
      { kind: 'no-work' },
    ]);
    expect(r.dropped).toEqual([`claim/unreported: ${message}`]);
    expect(r.state).toMatchObject({
      state: 'claiming',
      dropped: { claim: 1 },
      last_drop: { stage: 'claim', outcome: 'unreported', error: message },
    });
    expect(r.written.at(-1)?.dropped).toEqual({ claim: 1 });
    expect(r.capacity.inFlight).toBe(0);
  });
});
