// The bus's metric hooks against the test bed's NATS: every publish reported once with its
// outcome (a duplicate is a success), and handled messages by outcome.
import { Subjects, streamName } from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BusPublishError, BusValidationError } from '../src/index.ts';
import { claimed, natsUrl, TestWorld } from './support.ts';

let world: TestWorld;
beforeEach(() => {
  world = new TestWorld();
});
afterEach(async () => {
  await world.teardown();
});

describe('the published hook', () => {
  it('reports a stored publish and a duplicate as ok, a refused payload as error', async () => {
    const bus = await world.bus();
    const subject = `${world.prefix}.task.claimed`;
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' });
    expect(
      (await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed' })).duplicate,
    ).toBe(true);
    await expect(
      bus.publish(Subjects.taskClaimed, { ...claimed('t2'), attempt: 0 }, { msgId: 't2.1.claimed' }),
    ).rejects.toThrow(BusValidationError);
    expect(world.metrics.publishes).toEqual([
      [subject, 'ok'],
      [subject, 'ok'],
      [subject, 'error'],
    ]);
  });

  it('reports a publish the server did not store as error', async () => {
    const bus = await world.bus();
    const nc = await connect({ servers: natsUrl() });
    try {
      await (await jetstreamManager(nc)).streams.delete(streamName(world.prefix));
    } finally {
      await nc.close();
    }
    await expect(
      bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1.1.claimed', timeoutMs: 2_000 }),
    ).rejects.toThrow(BusPublishError);
    expect(world.metrics.publishes).toEqual([[`${world.prefix}.task.claimed`, 'error']]);
  });
});

describe('the handled hook', () => {
  it('reports each message a consumer settles, by outcome', async () => {
    const bus = await world.bus();
    await bus.consume(Subjects.taskClaimed, {
      durable: 'observed',
      retryBackoffMs: [50],
      handler: async (d) => {
        if (d.payload.task_id === 'bad' && d.redelivered === 0) throw new Error('first try fails');
        return 'ack';
      },
    });
    await bus.publish(Subjects.taskClaimed, claimed('bad'), { msgId: 'bad.1.claimed' });
    await eventually(() => expect(world.metrics.outcomes).toEqual(['error', 'ack']), 10_000);
  });
});
