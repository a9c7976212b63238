// The claim ledger: what this fleet has claimed and not yet finished, in Redis. It is
// written before anything is announced (DESIGN.md, "Ledger first"), so a crash of any
// service at any moment leaves enough behind to finish or release every claim.
//
// A claim is recorded in two steps because the claim response does not carry the task
// id: `begin` keeps the token and allocation the moment the claim answers (keyed by
// allocation), `commit` files it under the task id once the task config is fetched.
// A runner that restarts finds its `pending` claims and commits them.
import { type RedisKeys, redisKeys, TaskConfig } from '@longshore/contracts';
import type { Redis } from 'ioredis';
import { z } from 'zod';

export interface PendingClaim {
  allocation: string;
  resourceClass: string;
  token: string;
  claimedAt: string;
}

export interface ClaimRecord {
  /** Steps already done for this claim (see ClaimLedger.mark). */
  announced: boolean;
  launched: boolean;
  taskId: string;
  resourceClass: string;
  attempt: number;
  allocation: string;
  runner: string;
  claimedAt: string;
  task: TaskConfig;
}

/** Port: the ledger's capabilities, as the claimer, scheduler and GC use them. */
export interface ClaimLedger {
  begin(runner: string, pending: PendingClaim): Promise<void>;
  pending(runner: string): Promise<PendingClaim[]>;
  /** Drops a pending claim that can no longer be committed (its token was refused). */
  abandon(runner: string, allocation: string): Promise<void>;
  /** Files a pending claim under its task id; the attempt is the retries used so far + 1. */
  commit(runner: string, allocation: string, task: TaskConfig): Promise<ClaimRecord>;
  get(taskId: string): Promise<ClaimRecord | undefined>;
  /**
   * Every committed claim of the fleet (all runners), for the GC's reconciliation and
   * `longshore status`. Not a snapshot: claims filed or finished during the scan may or
   * may not appear. An unreadable record is skipped and reported to `onUnreadable`
   * rather than failing the whole listing.
   */
  allClaims(opts?: AllClaimsOptions): Promise<ClaimRecord[]>;
  token(taskId: string): Promise<string | undefined>;
  /** Task ids this runner has claimed and not finished. */
  claimsOf(runner: string): Promise<string[]>;
  /** Removes a finished claim; a no-op unless `attempt` is still the recorded one. */
  finish(taskId: string, attempt: number): Promise<boolean>;
  /** Marks a step of the claim's life as done ('announced' on the bus, pod 'launched'). */
  mark(taskId: string, attempt: number, step: ClaimStep): Promise<void>;
  retriesUsed(taskId: string): Promise<number>;
  /**
   * Records that `attempt` was interrupted and retried: retries used becomes `attempt`.
   * Idempotent, so a redelivered interruption is not counted twice.
   */
  recordRetry(taskId: string, attempt: number): Promise<number>;
}

export type ClaimStep = 'announced' | 'launched';

export interface AllClaimsOptions {
  /** Called once per claim key that could not be read back (so callers can count them). */
  onUnreadable?: (taskId: string) => void;
}

/** Keys fetched per SCAN step and per pipelined HGETALL batch. */
const SCAN_BATCH = 200;

const Stored = z.object({
  task_id: z.string(),
  resource_class: z.string(),
  attempt: z.coerce.number().int().positive(),
  allocation: z.string(),
  runner: z.string(),
  claimed_at: z.string(),
  task: z.string(),
  announced: z.literal('1').optional(),
  launched: z.literal('1').optional(),
});

const PendingStored = z.object({
  allocation: z.string(),
  resourceClass: z.string(),
  token: z.string(),
  claimedAt: z.string(),
});

/** A ledger entry Redis returned but we could not read back: never silently dropped. */
export class LedgerCorruptError extends Error {
  override name = 'LedgerCorruptError';
}

// Removes a claim only if it is still the given attempt, in one step, so a late finish of
// an old attempt cannot remove the claim of the next one.
const FINISH = `
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1`;

// Marks a step only on the attempt it belongs to.
const MARK = `
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], '1')
return 1`;

// retries = max(retries, attempt), so replaying the same interruption changes nothing.
const RECORD_RETRY = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local a = tonumber(ARGV[1])
if a > n then n = a end
redis.call('SET', KEYS[1], n, 'PX', ARGV[2])
return n`;

// Reads a stored claim hash back; undefined when any field (or the task JSON) is off.
function readClaim(h: Record<string, string>): ClaimRecord | undefined {
  const s = Stored.safeParse(h);
  if (!s.success) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(s.data.task);
  } catch {
    return undefined;
  }
  const task = TaskConfig.safeParse(json);
  if (!task.success) return undefined;
  return {
    announced: s.data.announced === '1',
    launched: s.data.launched === '1',
    taskId: s.data.task_id,
    resourceClass: s.data.resource_class,
    attempt: s.data.attempt,
    allocation: s.data.allocation,
    runner: s.data.runner,
    claimedAt: s.data.claimed_at,
    task: task.data,
  };
}

export interface RedisClaimLedgerOptions {
  redis: Redis;
  keyPrefix: string;
  /** How long a task token is kept: past this, the task cannot have a live pod any more. */
  tokenTtlMs: number;
}

export class RedisClaimLedger implements ClaimLedger {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(opts: RedisClaimLedgerOptions) {
    this.#redis = opts.redis;
    this.#keys = redisKeys(opts.keyPrefix);
    this.#prefix = opts.keyPrefix;
    this.#ttlMs = opts.tokenTtlMs;
  }

  #pendingKey(runner: string): string {
    return `${this.#prefix}:runner:${runner}:pending`;
  }

  async begin(runner: string, p: PendingClaim): Promise<void> {
    const key = this.#pendingKey(runner);
    await this.#redis.multi().hset(key, p.allocation, JSON.stringify(p)).pexpire(key, this.#ttlMs).exec();
  }

  async pending(runner: string): Promise<PendingClaim[]> {
    const all = await this.#redis.hgetall(this.#pendingKey(runner));
    return Object.values(all).map((v) => {
      const parsed = PendingStored.safeParse(JSON.parse(v));
      if (!parsed.success) throw new LedgerCorruptError(`unreadable pending claim of runner ${runner}`);
      return parsed.data;
    });
  }

  async abandon(runner: string, allocation: string): Promise<void> {
    await this.#redis.hdel(this.#pendingKey(runner), allocation);
  }

  async commit(runner: string, allocation: string, task: TaskConfig): Promise<ClaimRecord> {
    const raw = await this.#redis.hget(this.#pendingKey(runner), allocation);
    const existing = await this.get(task.task_id);
    if (raw === null) {
      // Committed already (a restart between commit and its caller's next step).
      if (existing?.allocation === allocation) return existing;
      throw new LedgerCorruptError(`no pending claim ${allocation} for runner ${runner}`);
    }
    const p = PendingStored.parse(JSON.parse(raw));
    if (existing?.allocation === allocation) {
      await this.#redis.hdel(this.#pendingKey(runner), allocation);
      return existing;
    }
    const attempt = (await this.retriesUsed(task.task_id)) + 1;
    const record: ClaimRecord = {
      announced: false,
      launched: false,
      taskId: task.task_id,
      resourceClass: p.resourceClass,
      attempt,
      allocation,
      runner,
      claimedAt: p.claimedAt,
      task,
    };
    const claimKey = this.#keys.claim(task.task_id);
    await this.#redis
      .multi()
      .del(claimKey)
      .hset(claimKey, {
        task_id: record.taskId,
        resource_class: record.resourceClass,
        attempt: String(attempt),
        allocation,
        runner,
        claimed_at: record.claimedAt,
        task: JSON.stringify(task),
      })
      .pexpire(claimKey, this.#ttlMs)
      .set(this.#keys.token(task.task_id), p.token, 'PX', this.#ttlMs)
      .zadd(this.#keys.runnerClaims(runner), Date.parse(p.claimedAt), task.task_id)
      .hdel(this.#pendingKey(runner), allocation)
      .exec();
    return record;
  }

  async get(taskId: string): Promise<ClaimRecord | undefined> {
    const h = await this.#redis.hgetall(this.#keys.claim(taskId));
    if (Object.keys(h).length === 0) return undefined;
    const rec = readClaim(h);
    if (rec === undefined) throw new LedgerCorruptError(`unreadable claim record of task ${taskId}`);
    return rec;
  }

  async allClaims(opts: AllClaimsOptions = {}): Promise<ClaimRecord[]> {
    const claimPrefix = this.#keys.claim('');
    const out: ClaimRecord[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${claimPrefix}*`, 'COUNT', SCAN_BATCH);
      cursor = next;
      if (keys.length === 0) continue;
      const pipe = this.#redis.pipeline();
      for (const key of keys) pipe.hgetall(key);
      const replies = (await pipe.exec()) ?? [];
      keys.forEach((key, i) => {
        const [err, h] = replies[i] ?? [new Error('no reply'), undefined];
        // Finished between SCAN and HGETALL: gone, not unreadable.
        if (err === null && h !== null && typeof h === 'object' && Object.keys(h).length === 0) return;
        const rec = err === null ? readClaim(h as Record<string, string>) : undefined;
        if (rec === undefined) opts.onUnreadable?.(key.slice(claimPrefix.length));
        else out.push(rec);
      });
    } while (cursor !== '0');
    return out;
  }

  async token(taskId: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#keys.token(taskId))) ?? undefined;
  }

  async claimsOf(runner: string): Promise<string[]> {
    return this.#redis.zrange(this.#keys.runnerClaims(runner), '0', '-1');
  }

  async finish(taskId: string, attempt: number): Promise<boolean> {
    const runner = await this.#redis.hget(this.#keys.claim(taskId), 'runner');
    const removed = await this.#redis.eval(
      FINISH,
      3,
      this.#keys.claim(taskId),
      this.#keys.token(taskId),
      this.#keys.runnerClaims(runner ?? ''),
      String(attempt),
      taskId,
    );
    return removed === 1;
  }

  async mark(taskId: string, attempt: number, step: ClaimStep): Promise<void> {
    await this.#redis.eval(MARK, 1, this.#keys.claim(taskId), String(attempt), step);
  }

  async retriesUsed(taskId: string): Promise<number> {
    return Number((await this.#redis.get(this.#keys.retries(taskId))) ?? 0);
  }

  async recordRetry(taskId: string, attempt: number): Promise<number> {
    const ttl = String(this.#ttlMs * 4);
    return Number(await this.#redis.eval(RECORD_RETRY, 1, this.#keys.retries(taskId), String(attempt), ttl));
  }
}
