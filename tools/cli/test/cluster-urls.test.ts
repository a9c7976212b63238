// `longshore tap` and `longshore status` given a NATS cluster as a comma-separated URL list
// (as NATS_URL and bus.url hold it) whose last server is down, on a three-node cluster whose
// stream and buckets have three copies: both read what the services wrote, and neither
// changes the copy count.
import { randomBytes } from 'node:crypto';
import { type Bus, connectBus } from '@longshore/bus';
import {
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  constraintStatusKey,
  Subjects,
  taskMsgId,
} from '@longshore/contracts';
import { freePort, NatsCluster, readTestbedEnv } from '@longshore/testbed';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Io } from '../src/config-check.ts';
import { status } from '../src/status.ts';
import { type TapEvent, tap } from '../src/tap.ts';

let cluster: NatsCluster;
let bus: Bus;
const prefix = `clu${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  cluster = await NatsCluster.start();
  bus = await connectBus({ servers: cluster.urls, prefix, name: 'cli-cluster-test', replicas: 3 });
  await bus.ensureStream();
});
afterAll(async () => {
  await bus?.close({ graceMs: 1_000 });
  await cluster?.stop();
});

function capture(): Io & { out: (l: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(l) };
}

it('status and tap read a cluster given as a comma-separated list', async () => {
  expect(cluster.url.split(',')).toHaveLength(3);
  const at = new Date().toISOString();
  const kv = await bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
  await kv.put(constraintStatusKey('acme/plain'), {
    resource_class: 'acme/plain',
    at,
    enabled: false,
    consecutive_failures: 2,
    reason: 'no node fits',
  });
  await bus.publish(
    Subjects.taskClaimed,
    { task_id: 'task-1', resource_class: 'acme/plain', attempt: 1, runner: 'r1', at, allocation: 'a1' },
    { msgId: taskMsgId('task-1', 1, 'claimed') },
  );

  // nats.js takes a comma-separated string as one server, the last: a list ending in a
  // server that is down (as one would be mid-failover) must still reach the others.
  const down = `nats://127.0.0.1:${await freePort()}`;
  const list = `${cluster.url},${down}`;

  const io = capture();
  const code = await status({ json: true, natsUrl: list, redisUrl: readTestbedEnv().REDIS_URL, prefix }, io);
  expect(code, io.lines.join('\n')).toBe(0);
  const rows = (JSON.parse(io.lines[0]!) as { classes: Array<{ resource_class: string; reason: string }> })
    .classes;
  expect(rows.map((r) => [r.resource_class, r.reason])).toEqual([['acme/plain', 'no node fits']]);

  const seen: TapEvent[] = [];
  const abort = new AbortController();
  const tapIo = capture();
  const done = tap(
    {
      natsUrl: list,
      prefix,
      sinceMs: 10 * 60_000,
      onEvent: (e) => {
        seen.push(e);
        abort.abort();
      },
    },
    tapIo,
    abort.signal,
  );
  expect(await done).toBe(0);
  expect(seen.map((e) => [e.name, (e.payload as { task_id?: string }).task_id])).toEqual([
    ['task.claimed', 'task-1'],
  ]);

  // The readers left the copies of what the services made as they were.
  const made = [bus.stream, `KV_${kv.bucket}`];
  const placed = (await cluster.streams()).filter((s) => made.includes(s.name));
  expect(placed.map((s) => [s.name, s.peers.length]).sort()).toEqual(made.map((n) => [n, 3]).sort());
});
