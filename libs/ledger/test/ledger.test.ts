// The ledger against a real Redis: the two-step claim, attempts, and finishing safely.
import { randomBytes } from 'node:crypto';
import type { TaskConfig } from '@longshore/contracts';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { LedgerConflictError, RedisClaimLedger } from '../src/index.ts';

const redis = new Redis(process.env.REDIS_URL!);
let ledger: RedisClaimLedger;
const prefixes: string[] = [];

beforeEach(() => {
  const prefix = `ledger${randomBytes(4).toString('hex')}`;
  prefixes.push(prefix);
  ledger = new RedisClaimLedger({ redis, keyPrefix: prefix, tokenTtlMs: 60_000 });
});
afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

const task = (id: string): TaskConfig => ({
  task_id: id,
  resource_class: 'acme/small',
  job_name: 'build',
  working_directory: '~/project',
  containers: [{ image: 'cimg/base:2024.01', environment: { SECRET_ENV: 'x' } }],
  ssh_advertise_addr: '',
});

const pending = (allocation: string) => ({
  allocation,
  resourceClass: 'acme/small',
  token: `token-${allocation}`,
  claimedAt: new Date().toISOString(),
});

describe('RedisClaimLedger', () => {
  it('keeps a claim from the moment it answers, then files it under its task id', async () => {
    await ledger.begin('runner-a', pending('alloc-1'));
    expect(await ledger.pending('runner-a')).toEqual([expect.objectContaining({ allocation: 'alloc-1' })]);
    const rec = await ledger.commit('runner-a', pending('alloc-1'), task('task-1'));
    expect(rec).toMatchObject({
      taskId: 'task-1',
      attempt: 1,
      runner: 'runner-a',
      resourceClass: 'acme/small',
    });
    expect(await ledger.pending('runner-a')).toEqual([]);
    expect(await ledger.get('task-1')).toEqual(rec);
    expect(await ledger.token('task-1')).toBe('token-alloc-1');
    expect(await ledger.claimsOf('runner-a')).toEqual(['task-1']);
  });

  it('keeps when the task config was fetched, when given, through a restore too', async () => {
    const configFetchedAt = '2026-12-05T04:00:00.123Z';
    const rec = await ledger.commit('r', pending('a9'), task('t9'), { configFetchedAt });
    expect(rec.configFetchedAt).toBe(configFetchedAt);
    expect(await ledger.get('t9')).toEqual(rec);
    await ledger.forget('t9', 'r');
    await ledger.restore(rec, 'token-a9');
    expect((await ledger.get('t9'))?.configFetchedAt).toBe(configFetchedAt);
    // Without it (a record filed before it was kept), the field is absent, not empty.
    const old = await ledger.commit('r', pending('a10'), task('t10'));
    expect(old).not.toHaveProperty('configFetchedAt');
    expect(await ledger.get('t10')).not.toHaveProperty('configFetchedAt');
  });

  it('commits idempotently: a second commit after a crash returns the same record', async () => {
    await ledger.begin('r', pending('a1'));
    const first = await ledger.commit('r', pending('a1'), task('t1'));
    expect(await ledger.commit('r', pending('a1'), task('t1'))).toEqual(first);
  });

  it('numbers attempts by retries used, and finishes only the current attempt', async () => {
    await ledger.begin('r', pending('a1'));
    await ledger.commit('r', pending('a1'), task('t1'));
    expect(await ledger.recordRetry('t1', 1)).toBe(1);
    expect(await ledger.recordRetry('t1', 1)).toBe(1);
    expect(await ledger.finish('t1', 1)).toBe(true);
    await ledger.begin('r', pending('a2'));
    const second = await ledger.commit('r', pending('a2'), task('t1'));
    expect(second.attempt).toBe(2);
    expect(await ledger.finish('t1', 1)).toBe(false);
    expect(await ledger.get('t1')).toBeDefined();
    expect(await ledger.finish('t1', 2)).toBe(true);
    expect(await ledger.get('t1')).toBeUndefined();
    expect(await ledger.token('t1')).toBeUndefined();
    expect(await ledger.claimsOf('r')).toEqual([]);
  });

  it('marks steps of the current attempt only', async () => {
    await ledger.begin('r', pending('a1'));
    await ledger.commit('r', pending('a1'), task('t1'));
    await ledger.mark('t1', 2, 'launched');
    expect((await ledger.get('t1'))?.launched).toBe(false);
    await ledger.mark('t1', 1, 'announced');
    await ledger.mark('t1', 1, 'launched');
    expect(await ledger.get('t1')).toMatchObject({ announced: true, launched: true });
  });

  it('abandons a pending claim whose token was refused', async () => {
    await ledger.begin('r', pending('a1'));
    await ledger.abandon('r', 'a1');
    expect(await ledger.pending('r')).toEqual([]);
  });

  it('lists every open claim of all runners, skipping and reporting unreadable ones', async () => {
    const prefix = prefixes.at(-1)!;
    for (let i = 0; i < 450; i++) {
      const runner = i % 2 === 0 ? 'r1' : 'r2';
      await ledger.begin(runner, pending(`a${i}`));
      await ledger.commit(runner, pending(`a${i}`), task(`t${i}`));
    }
    await ledger.finish('t0', 1);
    await redis.hset(`${prefix}:claim:broken`, { task_id: 'broken' });
    const unreadable: string[] = [];
    const all = await ledger.allClaims({ onUnreadable: (id) => unreadable.push(id) });
    expect(all).toHaveLength(449);
    expect(new Set(all.map((c) => c.taskId)).size).toBe(449);
    expect(all.find((c) => c.taskId === 't7')).toEqual(await ledger.get('t7'));
    expect(unreadable).toEqual(['broken']);
  });

  it('refuses a second open claim of the same task instead of overwriting the first', async () => {
    await ledger.begin('r1', pending('a1'));
    const first = await ledger.commit('r1', pending('a1'), task('t1'));
    await ledger.begin('r2', pending('a2'));
    await expect(ledger.commit('r2', pending('a2'), task('t1'))).rejects.toBeInstanceOf(LedgerConflictError);
    expect(await ledger.get('t1')).toEqual(first);
    expect(await ledger.token('t1')).toBe('token-a1');
    expect(await ledger.claimsOf('r2')).toEqual([]);
    // Once the first attempt was released for a retry, the next claim takes the task over.
    await ledger.recordRetry('t1', 1);
    expect((await ledger.commit('r2', pending('a2'), task('t1'))).attempt).toBe(2);
  });

  it('removes and reports pending entries it cannot read back, and keeps the others', async () => {
    const prefix = prefixes.at(-1)!;
    await ledger.begin('r', pending('good'));
    await redis.hset(`${prefix}:runner:r:pending`, {
      bad: '{not json',
      other: JSON.stringify({ allocation: 'x' }),
    });
    const unreadable: string[] = [];
    const found = await ledger.pending('r', { onUnreadable: (a) => unreadable.push(a) });
    expect(found.map((p) => p.allocation)).toEqual(['good']);
    expect(unreadable.sort()).toEqual(['bad', 'other']);
    expect(await redis.hkeys(`${prefix}:runner:r:pending`)).toEqual(['good']);
  });

  it('writes a claim back as it was after the ledger lost its data', async () => {
    await ledger.begin('r', pending('a1'));
    await ledger.commit('r', pending('a1'), task('t1'));
    await ledger.recordRetry('t1', 1);
    await ledger.finish('t1', 1);
    await ledger.begin('r', pending('a2'));
    const rec = await ledger.commit('r', pending('a2'), task('t1'));
    await ledger.mark('t1', 2, 'announced');
    const kept = { ...(await ledger.get('t1'))! };
    const prefix = prefixes.at(-1)!;
    await redis.del(...(await redis.keys(`${prefix}:*`)));
    expect(await ledger.get('t1')).toBeUndefined();
    await ledger.restore(kept, 'token-a2');
    expect(await ledger.get('t1')).toEqual({ ...rec, announced: true });
    expect(await ledger.token('t1')).toBe('token-a2');
    expect(await ledger.claimsOf('r')).toEqual(['t1']);
    expect(await ledger.retriesUsed('t1')).toBe(1);
  });

  it('forgets a claim record it cannot read', async () => {
    const prefix = prefixes.at(-1)!;
    await redis.hset(`${prefix}:claim:broken`, { task_id: 'broken' });
    await redis.zadd(`${prefix}:runner:r:claims`, 1, 'broken');
    await expect(ledger.get('broken')).rejects.toThrow('unreadable claim record of task broken');
    await ledger.forget('broken', 'r');
    expect(await ledger.get('broken')).toBeUndefined();
    expect(await ledger.claimsOf('r')).toEqual([]);
  });

  it('keeps one generation until the data is lost, then starts another', async () => {
    const prefix = prefixes.at(-1)!;
    const g1 = await ledger.generation();
    expect(Math.abs(g1.since - Date.now())).toBeLessThan(60_000);
    expect(await ledger.generation()).toEqual(g1);
    await redis.del(`${prefix}:ledger:generation`);
    const g2 = await ledger.generation();
    expect(g2.id).not.toBe(g1.id);
    expect(await ledger.lastRebuild()).toBeUndefined();
    const note = { at: new Date().toISOString(), runner: 'r', restoredClaims: 3, restoredPending: 1 };
    await ledger.noteRebuild(note);
    expect(await ledger.lastRebuild()).toEqual(note);
  });

  it('counts claims filed in a generation, so a ledger that went back in time shows', async () => {
    await ledger.begin('r', pending('a1'));
    await ledger.commit('r', pending('a1'), task('t1'));
    await ledger.begin('r', pending('a2'));
    await ledger.commit('r', pending('a2'), task('t2'));
    expect(ledger.lastSeq).toBe(2);
    expect((await ledger.generation()).seq).toBe(2);
    ledger.resetSeq();
    expect(ledger.lastSeq).toBe(0);
  });

  it('remembers that the count went back even after later filings carried it past the old value', async () => {
    for (const a of ['a1', 'a2', 'a3']) {
      await ledger.begin('r', pending(a));
      await ledger.commit('r', pending(a), task(`t-${a}`));
    }
    expect(ledger.lastSeq).toBe(3);
    // A replica promoted without the last two filings; then three more filings.
    await redis.set(`${prefixes.at(-1)!}:ledger:seq`, '1');
    for (const a of ['b1', 'b2', 'b3']) {
      await ledger.begin('r', pending(a));
      await ledger.commit('r', pending(a), task(`t-${a}`));
    }
    expect((await ledger.generation()).seq).toBe(4);
    expect(ledger.lastSeq).toBe(Number.POSITIVE_INFINITY);
    ledger.resetSeq();
    expect(ledger.lastSeq).toBe(0);
  });

  it('lets a runner take over the claims of one that stopped beating, once', async () => {
    await ledger.heartbeat('dead', 60_000);
    await ledger.begin('dead', pending('a1'));
    await ledger.commit('dead', pending('a1'), task('t1'));
    await ledger.begin('dead', pending('a2'));
    expect(await ledger.runners()).toEqual(['dead']);
    // Alive: nothing moves.
    expect(await ledger.alive('dead')).toBe(true);
    expect(await ledger.adopt('dead', 'live')).toBeUndefined();
    const prefix = prefixes.at(-1)!;
    await redis.del(`${prefix}:runner:dead:alive`);
    expect(await ledger.alive('dead')).toBe(false);
    const [first, second] = await Promise.all([ledger.adopt('dead', 'live'), ledger.adopt('dead', 'other')]);
    const winner = first ? 'live' : 'other';
    expect([first, second].filter(Boolean)).toEqual([{ taskIds: ['t1'], allocations: ['a2'] }]);
    expect((await ledger.get('t1'))?.runner).toBe(winner);
    expect(await ledger.claimsOf(winner)).toEqual(['t1']);
    expect((await ledger.pending(winner)).map((p) => p.allocation)).toEqual(['a2']);
    expect(await ledger.claimsOf('dead')).toEqual([]);
    expect(await ledger.runners()).toEqual([winner]);
  });
});
