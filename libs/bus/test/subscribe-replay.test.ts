// Live subscriptions (core NATS) and reading the stream back from a time (`tap --since`).
import { type AnySubjectDef, type SubjectDef, Subjects } from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ReplayedEvent } from '../src/index.ts';
import { claimed, interrupted, running, sleep, TestWorld } from './support.ts';

let world: TestWorld;
beforeEach(() => {
  world = new TestWorld();
});
afterEach(async () => {
  await world.teardown();
});

/** A broadcast-only subject, as status messages may be. */
const heartbeat = {
  name: 'status.heartbeat',
  schema: z.object({ runner: z.string() }),
  durable: false,
} as const satisfies SubjectDef;

describe('subscribe', () => {
  it('delivers validated broadcasts and skips (and counts) malformed ones', async () => {
    const bus = await world.bus();
    const got: string[] = [];
    const sub = bus.subscribe(heartbeat, (e) => {
      got.push(e.payload.runner);
    });
    await bus.publish(heartbeat, { runner: 'a' });
    await world.rawPublish('status.heartbeat', '{"runner": 7}', 'raw');
    await bus.publish(heartbeat, { runner: 'b' });
    await eventually(() => expect(got).toEqual(['a', 'b']), 10_000);
    expect(world.metrics.rejects).toEqual([[`${world.prefix}.status.heartbeat`, 'invalid']]);
    await sub.stop();
    await bus.publish(heartbeat, { runner: 'c' });
    await sleep(100);
    expect(got).toEqual(['a', 'b']);
  });

  it('takes a filter under the prefix and decodes each registered subject', async () => {
    const bus = await world.bus();
    const got: string[] = [];
    const sub = bus.subscribe('task.>', (e) => {
      got.push(e.name);
    });
    expect(sub.subject).toBe(`${world.prefix}.task.>`);
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: '1' });
    await bus.publish(Subjects.taskRunning, running('t1'), { msgId: '2' });
    await eventually(() => expect(got).toEqual(['task.claimed', 'task.running']), 10_000);
    await sub.stop();
  });
});

describe('replay', () => {
  async function collect(it: AsyncIterable<ReplayedEvent<AnySubjectDef>>) {
    const out: Array<[string, string, number]> = [];
    for await (const e of it) out.push([e.name, e.payload.at, e.seq]);
    return out;
  }

  it('returns only events stored since the time, in order, then ends', async () => {
    const bus = await world.bus();
    await bus.publish(Subjects.taskClaimed, claimed('old'), { msgId: 'old.claimed' });
    await bus.publish(Subjects.taskRunning, running('old'), { msgId: 'old.running' });
    await sleep(50);
    const since = new Date();
    await sleep(50);
    await bus.publish(Subjects.taskClaimed, claimed('new'), { msgId: 'new.claimed' });
    await world.rawPublish('task.running', 'garbage', 'garbage');
    await bus.publish(Subjects.taskRunning, running('new'), { msgId: 'new.running' });
    await bus.publish(Subjects.taskInterrupted, interrupted('new'), { msgId: 'new.interrupted' });

    const all = await collect(bus.replay({ since }));
    expect(all.map(([name, , seq]) => [name, seq])).toEqual([
      ['task.claimed', 3],
      ['task.running', 5],
      ['task.interrupted', 6],
    ]);
    expect(world.metrics.rejects).toEqual([[`${world.prefix}.task.running`, 'not-json']]);

    const onlyClaims = await collect(bus.replay({ since, filter: 'task.claimed' }));
    expect(onlyClaims.map(([name, , seq]) => [name, seq])).toEqual([['task.claimed', 3]]);
    expect(await collect(bus.replay({ since: new Date(Date.now() + 60_000) }))).toEqual([]);
  });

  it('follows live events until aborted', async () => {
    const bus = await world.bus();
    await bus.publish(Subjects.taskClaimed, claimed('t1'), { msgId: '1' });
    const stop = new AbortController();
    const names: string[] = [];
    const reading = (async () => {
      for await (const e of bus.replay({ since: new Date(0), follow: true, signal: stop.signal })) {
        names.push(`${e.name}:${'task_id' in e.payload ? e.payload.task_id : ''}`);
      }
    })();
    await eventually(() => expect(names).toEqual(['task.claimed:t1']), 10_000);
    await bus.publish(Subjects.taskInterrupted, interrupted('t1'), { msgId: '2' });
    await eventually(() => expect(names).toEqual(['task.claimed:t1', 'task.interrupted:t1']), 10_000);
    stop.abort();
    await reading;
  });
});
