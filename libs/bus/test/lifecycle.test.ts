// Stopping and restarting: stop() waits for the running handler, a durable consumer picks
// up where a closed (or crashed) process left off, and handlers slower than the ack wait
// are not redelivered meanwhile.
import { Subjects } from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { BusClosedError } from '../src/index.ts';
import { claimed, gate, sleep, TestWorld } from './support.ts';

let world: TestWorld;
beforeEach(() => {
  world = new TestWorld();
});
afterEach(async () => {
  await world.teardown();
});

it('stop() waits for the in-flight handler, whose ack still lands', async () => {
  const bus = await world.bus();
  const hold = gate();
  const started: string[] = [];
  const handle = await bus.consume(Subjects.taskClaimed, {
    durable: 'stopper',
    handler: async (d) => {
      started.push(d.payload.task_id);
      await hold.promise;
      return 'ack';
    },
  });
  await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1' });
  await bus.publish(Subjects.taskClaimed, claimed('t2'), { msgId: 't2' });
  await eventually(() => expect(started).toEqual(['t1']), 10_000);
  // Both are in this client's hands before it stops: t2 buffered behind t1. (One still on
  // its way from the server when the pull is cancelled waits out its ack wait instead.)
  await eventually(async () => expect((await world.consumerInfo('stopper')).num_ack_pending).toBe(2), 10_000);
  let stopped = false;
  const stopping = handle.stop().then(() => {
    stopped = true;
  });
  await sleep(300);
  expect(stopped).toBe(false);
  hold.open();
  await stopping;
  expect(started).toEqual(['t1']);
  // t1 was acked; t2, buffered but never started, was handed back at once: the next
  // consumer gets it long before its ack wait (30 s) would have run out.
  const next: string[] = [];
  await bus.consume(Subjects.taskClaimed, {
    durable: 'stopper',
    handler: async (d) => {
      next.push(d.payload.task_id);
      return 'ack';
    },
  });
  await eventually(async () => {
    expect(next).toEqual(['t2']);
    expect((await world.consumerInfo('stopper')).ack_floor.stream_seq).toBe(2);
  }, 5_000);
});

it('a durable consumer resumes after a close: unacked messages go to the next connection', async () => {
  const first = await world.bus('first');
  const hold = gate();
  const firstSaw: string[] = [];
  await first.consume(Subjects.taskClaimed, {
    durable: 'resume',
    ackWaitMs: 1_000,
    handler: async (d) => {
      firstSaw.push(d.payload.task_id);
      if (d.payload.task_id === 't1') return 'ack';
      await hold.promise; // t2 never finishes here: the process "crashes" with it in hand
      return 'ack';
    },
  });
  for (const t of ['t1', 't2', 't3']) await first.publish(Subjects.taskClaimed, claimed(t), { msgId: t });
  await eventually(() => expect(firstSaw).toEqual(['t1', 't2']), 10_000);
  await first.close({ graceMs: 100 });

  const second = await world.bus('second');
  const secondSaw: Array<[string, number]> = [];
  await second.consume(Subjects.taskClaimed, {
    durable: 'resume',
    ackWaitMs: 1_000,
    handler: async (d) => {
      secondSaw.push([d.payload.task_id, d.redelivered]);
      return 'ack';
    },
  });
  await eventually(() => expect(secondSaw.map(([t]) => t).sort()).toEqual(['t2', 't3']), 10_000);
  expect(secondSaw.find(([t]) => t === 't2')?.[1]).toBeGreaterThanOrEqual(1);
  hold.open(); // the abandoned handler's late ack fails quietly on the closed connection
  await eventually(async () => expect((await world.consumerInfo('resume')).num_ack_pending).toBe(0), 10_000);
  expect(secondSaw.map(([t]) => t)).not.toContain('t1');
});

it('keeps a slow handler’s message from being redelivered while it works', async () => {
  const bus = await world.bus();
  const seen: number[] = [];
  await bus.consume(Subjects.taskClaimed, {
    durable: 'slow',
    ackWaitMs: 400,
    handler: async (d) => {
      seen.push(d.redelivered);
      await sleep(1_500);
      return 'ack';
    },
  });
  await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 't1' });
  await eventually(async () => {
    expect(seen).toHaveLength(1);
    expect((await world.consumerInfo('slow')).ack_floor.stream_seq).toBe(1);
  }, 10_000);
  expect((await world.consumerInfo('slow')).num_redelivered).toBe(0);
});

it('handles up to `concurrency` messages at once', async () => {
  const bus = await world.bus();
  const hold = gate();
  let running = 0;
  let peak = 0;
  let done = 0;
  await bus.consume(Subjects.taskClaimed, {
    durable: 'parallel',
    concurrency: 4,
    handler: async () => {
      running++;
      peak = Math.max(peak, running);
      await hold.promise;
      running--;
      done++;
      return 'ack';
    },
  });
  for (let i = 0; i < 10; i++) await bus.publish(Subjects.taskClaimed, claimed(`t${i}`), { msgId: `t${i}` });
  await eventually(() => expect(running).toBe(4), 10_000);
  await sleep(200);
  expect(peak).toBe(4);
  hold.open();
  await eventually(() => expect(done).toBe(10), 10_000);
});

it('close() is idempotent and the bus refuses use afterwards', async () => {
  const bus = await world.bus();
  await bus.consume(Subjects.taskClaimed, { durable: 'c', handler: async () => 'ack' });
  bus.subscribe('>', () => {});
  await Promise.all([bus.close(), bus.close()]);
  await bus.close();
  await bus.closed();
  await expect(bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: 'x' })).rejects.toThrow(
    BusClosedError,
  );
});
