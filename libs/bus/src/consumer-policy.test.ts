import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { durableConsumerConfig, retryDelayMs, settlementFor } from './consumer-policy.ts';

describe('durableConsumerConfig', () => {
  it('is an explicit-ack durable with its limits in nanoseconds', () => {
    const c = durableConsumerConfig({
      durable: 'sched',
      filterSubject: 'ls.task.>',
      maxDeliver: 10,
      ackWaitMs: 30_000,
      from: 'all',
    });
    expect(c).toEqual({
      durable_name: 'sched',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: 'ls.task.>',
      max_deliver: 10,
      ack_wait: 30_000_000_000,
    });
    expect(
      durableConsumerConfig({ durable: 'x', filterSubject: 'ls.>', maxDeliver: 1, ackWaitMs: 1, from: 'new' })
        .deliver_policy,
    ).toBe(DeliverPolicy.New);
  });
});

describe('retryDelayMs', () => {
  it('walks the list by delivery count and repeats the last', () => {
    const b = [100, 200, 400];
    expect([1, 2, 3, 4, 10].map((n) => retryDelayMs(b, n))).toEqual([100, 200, 400, 400, 400]);
    expect(retryDelayMs(b, 0)).toBe(100);
    expect(retryDelayMs([], 3)).toBe(0);
  });
});

describe('settlementFor', () => {
  const backoff = [100, 1_000];
  const answered = (result: unknown) => ({ ok: true as const, result });
  const threw = { ok: false as const, error: new Error('boom') };

  it('follows ack and term, even on the last delivery', () => {
    expect(settlementFor(answered('ack'), 10, 10, backoff)).toEqual({ action: 'ack' });
    expect(settlementFor(answered('term'), 1, 10, backoff)).toEqual({
      action: 'term',
      why: 'handler',
      failed: false,
    });
  });

  it('naks with the asked delay, or the backoff after a throw or a junk answer', () => {
    expect(settlementFor(answered({ nak: 250 }), 1, 10, backoff)).toEqual({
      action: 'nak',
      delayMs: 250,
      failed: false,
    });
    expect(settlementFor(threw, 2, 10, backoff)).toEqual({ action: 'nak', delayMs: 1_000, failed: true });
    expect(settlementFor(answered(undefined), 1, 10, backoff)).toEqual({
      action: 'nak',
      delayMs: 100,
      failed: true,
    });
  });

  it('terms instead of retrying on the last allowed delivery', () => {
    expect(settlementFor(answered({ nak: 5 }), 3, 3, backoff)).toEqual({
      action: 'term',
      why: 'exhausted',
      failed: false,
    });
    expect(settlementFor(threw, 3, 3, backoff)).toEqual({ action: 'term', why: 'exhausted', failed: true });
  });
});
