// `longshore status` against the test bed: statuses from the constraints KV bucket, open
// claims from the Redis ledger, claimers' claim states from their KV bucket, under a
// prefix of the test's own.
import { randomBytes } from 'node:crypto';
import { type Bus, connectBus } from '@longshore/bus';
import {
  CLAIM_STATE_KV_BUCKET,
  CLAIM_STATE_TTL_MS,
  ClaimState,
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  claimStateKey,
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
  working_directory: '~/project',
  containers: [{ image: 'cimg/base:2024.01', environment: {} }],
  ssh_advertise_addr: '',
});

describe('longshore status', () => {
  it('prints each class with its constraint status, open claims, refused token and drops', async () => {
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
    const states = await bus.kv(CLAIM_STATE_KV_BUCKET, ClaimState, { ttlMs: CLAIM_STATE_TTL_MS });
    const refused = 'POST /api/v3/runner/claim: HTTP 403 (unknown resource class token)';
    const drop = {
      at,
      stage: 'config' as const,
      outcome: 'failed' as const,
      error: 'GET /api/v2/task/config: HTTP 200 answer is not the expected shape (containers: Invalid input)',
    };
    const base = { runner: 'c1', at, since: at, reason: '', last_error: null, dropped: {}, last_drop: null };
    await states.put(claimStateKey('c1', 'acme/plain'), {
      ...base,
      resource_class: 'acme/plain',
      state: 'claiming',
      dropped: { config: 1 },
      last_drop: drop,
    });
    await states.put(claimStateKey('c1', 'acme/big'), {
      ...base,
      resource_class: 'acme/big',
      state: 'token-refused',
      reason: refused,
    });
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: () => {} };
    const opts = { natsUrl: env.NATS_URL, redisUrl: env.REDIS_URL, prefix };
    expect(await status({ ...opts, json: true }, io)).toBe(0);
    const { classes } = JSON.parse(out[0]!) as { classes: ClassStatus[] };
    const none = {
      claimers: 0,
      draining: 0,
      token_refused: null,
      dropped: {},
      last_drop: null,
      pod_check: null,
    };
    expect(classes).toEqual([
      {
        resource_class: 'acme/big',
        enabled: true,
        checked: false,
        consecutive_failures: 0,
        reason: '',
        checked_at: null,
        in_flight: 0,
        claimers: 1,
        draining: 0,
        token_refused: { since: at, reason: refused, claimers: 1 },
        dropped: {},
        last_drop: null,
        pod_check: null,
      },
      {
        resource_class: 'acme/plain',
        enabled: true,
        checked: true,
        consecutive_failures: 0,
        reason: '',
        checked_at: at,
        in_flight: 2,
        claimers: 1,
        draining: 0,
        token_refused: null,
        dropped: { config: 1 },
        last_drop: { ...drop, runner: 'c1' },
        pod_check: null,
      },
      {
        resource_class: 'acme/ssd',
        enabled: false,
        checked: true,
        consecutive_failures: 3,
        reason,
        checked_at: at,
        in_flight: 0,
        ...none,
      },
    ]);
    out.length = 0;
    expect(await status(opts, io)).toBe(0);
    expect(out[1]).toMatch(/^acme\/big\s+token refused\s+-\s+0\s+0\s+0\s+never\s+-$/);
    expect(out[3]).toMatch(
      /^acme\/ssd\s+disabled\s+-\s+3\s+0\s+0\s+\S+\s+no node matches nodeSelector disktype=ssd/,
    );
    expect(out.slice(4)).toEqual([
      `acme/big: token refused since ${at} (1 of 1 claimers): ${refused}`,
      `acme/plain: 1 claims dropped (config 1); last at ${at} (config, failed, c1): ${drop.error}`,
    ]);
  });
});
