// The bus on a three-node NATS cluster: `replicas` puts three copies of the event stream
// and of every KV bucket on the nodes, brings a bucket made with one copy up to three,
// and a reader without a replica count changes nothing; with the stream's leader killed,
// what was stored is still there and publishing goes on once a new leader is elected.
import { ConstraintStatus, Subjects } from '@longshore/contracts';
import { NatsCluster } from '@longshore/testbed';
import { eventually } from '@longshore/testbed/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Bus, connectBus } from '../src/index.ts';
import { captureLogger, claimed, uniquePrefix } from './support.ts';

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterAll(async () => {
  await cluster?.stop();
});

const status = (rc: string): ConstraintStatus => ({
  resource_class: rc,
  at: new Date().toISOString(),
  enabled: true,
  consecutive_failures: 0,
  reason: '',
});

async function open(prefix: string, name: string, replicas?: number): Promise<Bus> {
  return connectBus({
    servers: cluster.urls,
    prefix,
    name,
    logger: captureLogger(),
    ...(replicas === undefined ? {} : { replicas }),
  });
}

/** Nodes holding a copy of a stream, once the cluster has placed them all. */
async function peersOf(stream: string, expected: number): Promise<readonly string[]> {
  return eventually(async () => {
    const s = (await cluster.streams()).find((x) => x.name === stream);
    expect(s?.peers, stream).toHaveLength(expected);
    return s!.peers;
  }, 20_000);
}

it('keeps three copies of the stream and buckets, and a reader without a count changes none', async () => {
  const prefix = uniquePrefix();
  // A reader (as `longshore status` is) makes the bucket first, with one copy.
  const reader = await open(prefix, 'reader');
  const early = await reader.kv('constraints', ConstraintStatus);
  await early.put('org.small', status('org/small'));
  expect(await peersOf(`KV_${early.bucket}`, 1)).toHaveLength(1);

  const service = await open(prefix, 'service', 3);
  try {
    await eventually(() => service.ensureStream(), 20_000);
    const kv = await eventually(() => service.kv('constraints', ConstraintStatus), 20_000);
    const created = await eventually(() => service.kv('pod-check', ConstraintStatus), 20_000);
    expect(await peersOf(service.stream, 3)).toEqual(['n0', 'n1', 'n2']);
    expect(await peersOf(`KV_${kv.bucket}`, 3)).toEqual(['n0', 'n1', 'n2']);
    expect(await peersOf(`KV_${created.bucket}`, 3)).toEqual(['n0', 'n1', 'n2']);
    expect((await eventually(() => kv.get('org.small'), 20_000))?.value.resource_class).toBe('org/small');

    // The reader, as every reader does, leaves the counts as they are.
    await reader.ensureStream();
    await reader.kv('constraints', ConstraintStatus);
    expect(await peersOf(service.stream, 3)).toHaveLength(3);
    expect(await peersOf(`KV_${kv.bucket}`, 3)).toHaveLength(3);
  } finally {
    await Promise.allSettled([reader.close({ graceMs: 1_000 }), service.close({ graceMs: 1_000 })]);
  }
});

it('keeps what was stored and publishes on when the stream leader is killed', async () => {
  const prefix = uniquePrefix();
  const bus = await open(prefix, 'svc', 3);
  try {
    await bus.ensureStream();
    const kv = await bus.kv('constraints', ConstraintStatus);
    await eventually(() => kv.put('org.small', status('org/small')), 20_000);
    const since = new Date(Date.now() - 1_000);
    const publish = (task: string) =>
      bus.publish(Subjects.taskClaimed, claimed(task), { msgId: `${task}:claimed`, timeoutMs: 2_000 });
    for (let i = 0; i < 10; i++) await eventually(() => publish(`before-${i}`), 20_000);

    const leader = await eventually(async () => {
      const l = await cluster.streamLeader(bus.stream);
      expect(l).toBeDefined();
      return l!;
    }, 20_000);
    await cluster.kill(leader);
    // The first publishes wait for a new leader; none is lost or stored twice.
    for (let i = 0; i < 10; i++) await eventually(() => publish(`after-${i}`), 30_000);
    // Reading back makes a consumer, which waits for the meta leader too if it was there.
    const stored = await eventually(async () => {
      const ids: string[] = [];
      for await (const e of bus.replay({ since, filter: 'task.claimed' }))
        ids.push((e.payload as { task_id: string }).task_id);
      return ids;
    }, 30_000);
    expect(stored).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `before-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `after-${i}`),
    ]);
    expect((await eventually(() => kv.get('org.small'), 30_000))?.value.resource_class).toBe('org/small');
    await cluster.restart(leader);
  } finally {
    await bus.close({ graceMs: 1_000 });
  }
});
