// `longshore status` against the test bed: statuses from the constraints KV bucket, open
// claims from the Redis ledger, under a prefix of the test's own.
import { randomBytes } from 'node:crypto';
import { type Bus, connectBus } from '@longshore/bus';
import {
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  constraintStatusKey,
  type TaskConfig,
} from '@longshore/contracts';
import { RedisClaimLedger } from '@longshore/ledger';
import { readTestbedEnv } from '@longshore/testbed';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClassStatus, status } from '../src/status.ts';

const env = readTestbedEnv();
const prefix = `status${randomBytes(3).toString('hex')}`;
let bus: Bus | undefined;
const redis = new Redis(env.REDIS_URL);
afterEach(async () => {
  await bus?.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const task = (id: string, rc: string): TaskConfig => ({
  task_id: id,
  resource_class: rc,
  job_name: 'build',
  cmd: [],
  working_directory: '~/project',
  containers: [{ image: 'cimg/base:2024.01', environment: {} }],
  ssh_advertise_addr: '',
});

describe('longshore status', () => {
  it('prints each class with its constraint status and open claims', async () => {
    bus = await connectBus({ servers: env.NATS_URL, prefix, name: 'status-test' });
    const kv = await bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
    const at = new Date().toISOString();
    const reason = 'no node matches nodeSelector disktype=ssd (8 nodes checked: 0 have disktype=ssd)';
    await kv.put(constraintStatusKey('acme/ssd'), {
      resource_class: 'acme/ssd',
      at,
      enabled: false,
      consecutive_failures: 3,
      reason,
    });
    await kv.put(constraintStatusKey('acme/plain'), {
      resource_class: 'acme/plain',
      at,
      enabled: true,
      consecutive_failures: 0,
      reason: '',
    });
    const ledger = new RedisClaimLedger({ redis, keyPrefix: prefix, tokenTtlMs: 60_000 });
    for (let i = 0; i < 2; i++) {
      const p = { allocation: `a${i}`, resourceClass: 'acme/plain', token: `t${i}`, claimedAt: at };
      await ledger.begin('r1', p);
      await ledger.commit('r1', p, task(`task${i}`, 'acme/plain'));
    }
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: () => {} };
    const opts = { natsUrl: env.NATS_URL, redisUrl: env.REDIS_URL, prefix };
    expect(await status({ ...opts, json: true }, io)).toBe(0);
    const { classes } = JSON.parse(out[0]!) as { classes: ClassStatus[] };
    expect(classes).toEqual([
      {
        resource_class: 'acme/plain',
        enabled: true,
        checked: true,
        consecutive_failures: 0,
        reason: '',
        checked_at: at,
        in_flight: 2,
      },
      {
        resource_class: 'acme/ssd',
        enabled: false,
        checked: true,
        consecutive_failures: 3,
        reason,
        checked_at: at,
        in_flight: 0,
      },
    ]);
    out.length = 0;
    expect(await status(opts, io)).toBe(0);
    expect(out[2]).toMatch(/^acme\/ssd\s+disabled\s+3\s+0\s+\S+\s+no node matches nodeSelector disktype=ssd/);
  });
});
