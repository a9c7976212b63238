// Publishing through JetStream and consuming with a durable consumer: dedup, redelivery,
// malformed messages, and the guards in front of publish.
import { Subjects } from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BusPublishError, BusSecretError, BusValidationError, type Delivery } from '../src/index.ts';
import { claimed, interrupted, running, TestWorld } from './support.ts';

type ClaimDelivery = Delivery<typeof Subjects.taskClaimed>;

let world: TestWorld;
beforeEach(() => {
  world = new TestWorld();
});
afterEach(async () => {
  await world.teardown();
});

describe('publish', () => {
  it('drops a second publish with the same msgId and reports it as a duplicate', async () => {
    const bus = await world.bus();
    const first = await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' });
    const second = await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' });
    const other = await bus.publish(Subjects.taskClaimed, claimed('t2'), { msgId: 't2.1.claimed' });
    expect(first).toEqual({ seq: 1, duplicate: false });
    expect(second).toEqual({ seq: 1, duplicate: true });
    expect(other).toEqual({ seq: 2, duplicate: false });

    const got: ClaimDelivery[] = [];
    await bus.consume(Subjects.taskClaimed, {
      durable: 'dedup',
      handler: async (d) => {
        got.push(d);
        return 'ack';
      },
    });
    await eventually(() => expect(got.map((d) => d.payload.task_id)).toEqual(['t1', 't2']), 10_000);
    expect(got[0]).toMatchObject({
      name: 'task.claimed',
      subject: `${world.prefix}.task.claimed`,
      seq: 1,
      redelivered: 0,
      msgId: 't1.1.claimed',
    });
    await eventually(async () => expect((await world.consumerInfo('dedup')).num_ack_pending).toBe(0), 10_000);
    expect(got).toHaveLength(2);
  });

  it('refuses an invalid payload and a payload with a token-like key, sending nothing', async () => {
    const bus = await world.bus();
    const bad = { ...claimed('t1'), attempt: 0 };
    await expect(bus.publish(Subjects.taskClaimed, bad, { msgId: 'a' })).rejects.toThrow(BusValidationError);
    const withToken = { ...claimed('t1'), task_token: 'very-secret-value' };
    const err = await bus.publish(Subjects.taskClaimed, withToken, { msgId: 'b' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusSecretError);
    expect((err as BusSecretError).paths).toEqual(['task_token']);
    expect(String(err)).not.toContain('very-secret-value');
    const nested = { ...claimed('t1'), extra: { headers: { Authorization: 'Bearer x' } } };
    await expect(bus.publish(Subjects.taskClaimed, nested, { msgId: 'c' })).rejects.toThrow(BusSecretError);
    await expect(bus.publish(Subjects.taskClaimed, claimed('t1'))).rejects.toThrow(BusPublishError);
    expect(await world.streamMessages()).toBe(0);
  });
});

describe('consume', () => {
  it('redelivers a nak’d message once, with its redelivery count, and not again after the ack', async () => {
    const bus = await world.bus();
    const seen: number[] = [];
    await bus.consume(Subjects.taskClaimed, {
      durable: 'nak',
      ackWaitMs: 1_000,
      handler: async (d) => {
        seen.push(d.redelivered);
        return d.redelivered === 0 ? { nak: 100 } : 'ack';
      },
    });
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' });
    await eventually(() => expect(seen).toEqual([0, 1]), 10_000);
    await eventually(async () => {
      const info = await world.consumerInfo('nak');
      expect([info.num_ack_pending, info.num_pending]).toEqual([0, 0]);
    }, 10_000);
    // Acked on the server: nothing is left to redeliver, even after the ack wait.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(seen).toEqual([0, 1]);
  });

  it('naks with backoff when the handler throws, and logs the error', async () => {
    const bus = await world.bus();
    const seen: number[] = [];
    await bus.consume(Subjects.taskClaimed, {
      durable: 'throws',
      retryBackoffMs: [50],
      handler: async (d) => {
        seen.push(d.redelivered);
        if (d.redelivered === 0) throw new Error('kube said no');
        return 'ack';
      },
    });
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' });
    await eventually(() => expect(seen).toEqual([0, 1]), 10_000);
    const warn = world.logger.lines.find((l) => l.msg === 'handler failed; will retry');
    expect(warn?.fields).toMatchObject({ durable: 'throws', retryInMs: 50, err: 'Error: kube said no' });
  });

  it('terms a message after maxDeliver failures', async () => {
    const bus = await world.bus();
    const seen: number[] = [];
    await bus.consume(Subjects.taskClaimed, {
      durable: 'exhaust',
      maxDeliver: 3,
      handler: async (d) => {
        seen.push(d.redelivered);
        return { nak: 10 };
      },
    });
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' });
    await eventually(async () => {
      expect(seen).toEqual([0, 1, 2]);
      expect((await world.consumerInfo('exhaust')).num_ack_pending).toBe(0);
    }, 10_000);
    expect(
      world.logger.lines.some((l) => l.level === 'error' && l.msg === 'retries exhausted; giving up'),
    ).toBe(true);
  });

  it('counts and terms malformed messages, and still handles the next valid one', async () => {
    const bus = await world.bus();
    const got: string[] = [];
    await bus.consume(Subjects.taskClaimed, {
      durable: 'malformed',
      ackWaitMs: 500,
      handler: async (d) => {
        got.push(d.payload.task_id);
        return 'ack';
      },
    });
    await world.rawPublish('task.claimed', 'not json, task_token=abc123', 'raw-1');
    await world.rawPublish('task.claimed', JSON.stringify({ task_id: 'x', password: 'hunter2' }), 'raw-2');
    await bus.publish(Subjects.taskClaimed, claimed('good'), { msgId: 'good.1.claimed' });
    await eventually(() => expect(got).toEqual(['good']), 10_000);
    const subject = `${world.prefix}.task.claimed`;
    expect(world.metrics.rejects).toEqual([
      [subject, 'not-json'],
      [subject, 'invalid'],
    ]);
    // Term'd, not left to redeliver: nothing pending well past the ack wait.
    await new Promise((r) => setTimeout(r, 1_000));
    const info = await world.consumerInfo('malformed');
    expect([info.num_ack_pending, info.num_redelivered]).toEqual([0, 0]);
    const logged = JSON.stringify(world.logger.lines);
    expect(logged).not.toContain('abc123');
    expect(logged).not.toContain('hunter2');
    const warn = world.logger.lines.find((l) => l.fields.reason === 'invalid');
    expect(warn?.fields).toMatchObject({ subject, seq: 2, size: expect.any(Number) });
    expect(warn?.fields.issues).toContain('allocation (invalid_type)');
  });

  it('consumes several subjects through one wildcard consumer, in stream order, skipping the rest', async () => {
    const bus = await world.bus();
    const got: string[] = [];
    const handle = await bus.consume([Subjects.taskClaimed, Subjects.taskInterrupted], {
      durable: 'multi',
      handler: async (d) => {
        // `name` narrows the payload: only task.interrupted has a reason.
        got.push(d.name === 'task.interrupted' ? `${d.name}:${d.payload.reason}` : d.name);
        return 'ack';
      },
    });
    expect(handle.filterSubject).toBe(`${world.prefix}.task.>`);
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: '1' });
    await bus.publish(Subjects.taskRunning, running('t1'), { msgId: '2' });
    await bus.publish(Subjects.taskInterrupted, interrupted('t1'), { msgId: '3' });
    await eventually(() => expect(got).toEqual(['task.claimed', 'task.interrupted:evicted']), 10_000);
    await eventually(async () => expect((await world.consumerInfo('multi')).num_ack_pending).toBe(0), 10_000);
    expect(world.metrics.outcomes).toEqual(['ack', 'skipped', 'ack']);
  });
});
