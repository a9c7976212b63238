import { describe, expect, it } from 'vitest';
import { FaultBook, FaultRule, FaultRules, GARBAGE_BODIES } from './faults.ts';

function book(rules: unknown[], random?: () => number): FaultBook {
  const faults = new FaultBook(random);
  faults.replace(FaultRules.parse({ rules }).rules);
  return faults;
}

describe('FaultBook', () => {
  it('lets requests through when no rule matches', () => {
    expect(book([{ endpoint: 'claim', kind: 'status', status: 500 }]).decide('unclaim')).toEqual({
      delayMs: 0,
    });
  });

  it('applies a wildcard rule to every endpoint', () => {
    const faults = book([{ endpoint: '*', kind: 'status', status: 503 }]);
    expect(faults.decide('claim').response).toEqual({ kind: 'status', status: 503 });
    expect(faults.decide('runningCount').response).toEqual({ kind: 'status', status: 503 });
  });

  it('stops applying a rule after `times` requests and shows what remains', () => {
    const faults = book([{ endpoint: 'claim', kind: 'rate-limit', retry_after_s: 7, times: 2 }]);
    expect(faults.decide('claim').response).toEqual({ kind: 'rate-limit', retryAfterS: 7 });
    expect(faults.list()[0]).toMatchObject({ remaining: 1 });
    expect(faults.decide('claim').response).toBeDefined();
    expect(faults.decide('claim').response).toBeUndefined();
  });

  it('adds up latency and still lets the first answering rule answer', () => {
    const faults = book([
      { endpoint: '*', kind: 'latency', ms: 10 },
      { endpoint: 'claim', kind: 'status', status: 500 },
      { endpoint: 'claim', kind: 'latency', ms: 5 },
      { endpoint: 'claim', kind: 'status', status: 502, times: 1 },
    ]);
    expect(faults.decide('claim')).toEqual({ delayMs: 15, response: { kind: 'status', status: 500 } });
    // The shadowed rule was not spent.
    expect(faults.list()[3]).toMatchObject({ remaining: 1 });
  });

  it('applies a rule only when the dice say so, and spends `times` only then', () => {
    let roll = 0.9;
    const faults = book(
      [{ endpoint: 'fail', kind: 'status', status: 500, probability: 0.5, times: 1 }],
      () => roll,
    );
    expect(faults.decide('fail').response).toBeUndefined();
    roll = 0.1;
    expect(faults.decide('fail').response).toBeDefined();
    expect(faults.decide('fail').response).toBeUndefined();
  });

  it('rotates through the kinds of garbage', () => {
    const faults = book([{ endpoint: 'taskConfig', kind: 'garbage' }]);
    const served = GARBAGE_BODIES.map(() => faults.decide('taskConfig').response);
    expect(served).toEqual(GARBAGE_BODIES.map((body) => ({ kind: 'garbage', body })));
  });

  it('answers a respond rule with a literal or a generated body', () => {
    const faults = book([
      { endpoint: 'claim', kind: 'respond', body: '{"task_token":"t"}', times: 1 },
      {
        endpoint: 'claim',
        kind: 'respond',
        status: 502,
        content_type: 'text/html',
        body_bytes: 50_000_000,
        content_length: false,
      },
    ]);
    expect(faults.decide('claim').response).toEqual({
      kind: 'respond',
      status: 200,
      contentType: 'application/json',
      body: '{"task_token":"t"}',
      contentLength: true,
    });
    expect(faults.decide('claim').response).toEqual({
      kind: 'respond',
      status: 502,
      contentType: 'text/html',
      body: { bytes: 50_000_000 },
      contentLength: false,
    });
  });

  it('dribbles whatever goes out: the real answer, or the answering rule’s', () => {
    const faults = book([
      { endpoint: 'taskConfig', kind: 'dribble', chunk_bytes: 2, interval_ms: 50 },
      { endpoint: '*', kind: 'dribble', interval_ms: 9, times: 1 },
      { endpoint: 'claim', kind: 'status', status: 503 },
    ]);
    expect(faults.decide('taskConfig')).toEqual({ delayMs: 0, dribble: { chunkBytes: 2, intervalMs: 50 } });
    // The shadowed wildcard dribble was not spent.
    expect(faults.list()[1]).toMatchObject({ remaining: 1 });
    expect(faults.decide('claim')).toEqual({
      delayMs: 0,
      dribble: { chunkBytes: 1, intervalMs: 9 },
      response: { kind: 'status', status: 503 },
    });
  });

  it('replaces rules and clears them', () => {
    const faults = book([{ endpoint: 'claim', kind: 'garbage' }]);
    faults.replace([]);
    expect(faults.decide('claim').response).toBeUndefined();
    faults.clear();
    expect(faults.list()).toEqual([]);
  });
});

describe('FaultRule schema', () => {
  it('fills defaults', () => {
    expect(FaultRule.parse({ endpoint: 'claim', kind: 'rate-limit' })).toEqual({
      endpoint: 'claim',
      kind: 'rate-limit',
      retry_after_s: 1,
      probability: 1,
    });
  });

  it.each([
    { endpoint: 'claim', kind: 'status' },
    { endpoint: 'claim', kind: 'status', status: 200 },
    { endpoint: 'claim', kind: 'latency' },
    { endpoint: 'nowhere', kind: 'garbage' },
    { endpoint: 'claim', kind: 'explode' },
    { endpoint: 'claim', kind: 'garbage', probability: 2 },
    { endpoint: 'claim', kind: 'garbage', times: 0 },
    { endpoint: 'claim', kind: 'respond', body: 'x', body_bytes: 1 },
    { endpoint: 'claim', kind: 'respond', status: 100 },
    { endpoint: 'claim', kind: 'respond', content_type: 'a\nb' },
    { endpoint: 'claim', kind: 'respond', body_bytes: 2 * 1024 ** 3 },
    { endpoint: 'claim', kind: 'dribble' },
    { endpoint: 'claim', kind: 'dribble', interval_ms: 10, chunk_bytes: 0 },
  ])('rejects %j', (rule) => {
    expect(FaultRule.safeParse(rule).success).toBe(false);
  });
});
