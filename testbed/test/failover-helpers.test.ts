// The test bed's failover helpers do what the tests built on them assume: a NATS cluster
// that elects a new meta leader when one node is killed and takes the node back, and a
// Redis whose failover loses the writes the primary took after the replica stopped
// following, while its endpoint moves to the promoted replica.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { NatsCluster } from '../src/nats-cluster.ts';
import { parseRedisInfo, redisCommand } from '../src/probes.ts';
import { RedisFailover } from '../src/redis-failover.ts';

let cluster: NatsCluster | undefined;
let redis: RedisFailover | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await redis?.stop();
  redis = undefined;
});

describe('NatsCluster', () => {
  it('elects a new meta leader when the leader is killed, and takes the node back', async () => {
    cluster = await NatsCluster.start();
    const c = cluster;
    const first = await c.metaLeader();
    expect(c.nodes.map((n) => n.name)).toContain(first);
    await c.kill(first!);
    expect(c.running(first!)).toBe(false);
    let next: string | undefined;
    for (let i = 0; i < 150 && (next === undefined || next === first); i++) {
      next = await c.metaLeader();
      await sleep(200);
    }
    expect(next).toBeDefined();
    expect(next).not.toBe(first);
    await c.restart(first!);
    expect(c.nodes.map((n) => c.running(n.name))).toEqual([true, true, true]);
    expect(await c.metaLeader()).toBeDefined();
  });
});

describe('RedisFailover', () => {
  it('promotes the replica without the writes the primary took after the cut', async () => {
    redis = await RedisFailover.start();
    const r = redis;
    const endpoint = Number(new URL(r.url).port);
    await redisCommand(endpoint, ['SET', 'before', '1']);
    // Replicated before the cut.
    await r.caughtUp();

    const acked: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          await redisCommand(endpoint, ['SET', `k${i}`, 'x']);
          acked.push(`k${i}`);
        } catch {
          // The endpoint cut the connection as it moved; the next write goes to the new primary.
        }
        await sleep(10);
      }
    })();
    const result = await r.failover({ lagMs: 500 });
    await sleep(200);
    writing = false;
    await writer;

    expect(result.lostBytes).toBeGreaterThan(0);
    expect(await redisCommand(endpoint, ['GET', 'before'])).toBe('1');
    const present = await Promise.all(acked.map((k) => redisCommand(endpoint, ['EXISTS', k])));
    const missing = acked.filter((_, i) => present[i] === 0);
    expect(missing.length).toBeGreaterThan(0);
    // ...while writes after the switch landed on the promoted replica, which the endpoint now serves.
    expect(present.at(-1)).toBe(1);
    const info = parseRedisInfo(String(await redisCommand(endpoint, ['INFO', 'replication'])));
    expect(info.role).toBe('master');
    expect(info.connected_slaves).toBe('0');
  });
});
