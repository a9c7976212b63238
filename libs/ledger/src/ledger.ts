// The claim ledger: what this fleet has claimed and not yet finished, in Redis. It is
// written before anything is announced (DESIGN.md, "Ledger first"), so a crash of any
// service at any moment leaves enough behind to finish or release every claim.
//
// A claim is recorded in two steps because the claim response does not carry the task
// id: `begin` keeps the token and allocation the moment the claim answers (keyed by
// allocation), `commit` files it under the task id once the task config is fetched.
// A runner that restarts finds its `pending` claims and commits them.
//
// Redis may lose the ledger (a restart without persistence, a flush, a failover to a
// replica that missed the last writes). A generation marker tells: it is written once,
// without a TTL, and a service that sees it change knows its records may be gone. The
// claimer then writes back what it holds in memory (`restore`, `begin`).
import { randomBytes } from 'node:crypto';
import { Allocation, type RedisKeys, redisKeys, TaskConfig, TaskId, TaskToken } from '@longshore/contracts';
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
  /**
   * When the claimer had the task's config (ISO time): where the scheduler's part of a task's
   * start begins (the stage histograms). Absent on records filed before it was kept.
   */
  configFetchedAt?: string | undefined;
  task: TaskConfig;
}

/** Port: the ledger's capabilities, as the claimer, scheduler and GC use them. */
export interface ClaimLedger {
  begin(runner: string, pending: PendingClaim): Promise<void>;
  /**
   * This runner's pending claims. An entry that cannot be read back is removed and reported
   * to `onUnreadable` (it cannot be finished: its token is not readable either).
   */
  pending(runner: string, opts?: { onUnreadable?: (allocation: string) => void }): Promise<PendingClaim[]>;
  /** Drops a pending claim that can no longer be committed (its token was refused). */
  abandon(runner: string, allocation: string): Promise<void>;
  /**
   * Files a pending claim under its task id; the attempt is the retries used so far + 1.
   * Repeating it for the same allocation returns the record filed the first time. Throws
   * LedgerConflictError when another claim of the same task is open and was not released for
   * a retry: two claims must never share one record.
   */
  commit(
    runner: string,
    pending: PendingClaim,
    task: TaskConfig,
    opts?: { configFetchedAt?: string },
  ): Promise<ClaimRecord>;
  /**
   * Writes a claim back as it was (attempt, steps done, token) after the ledger lost its
   * data; the retry counter is raised to what the attempt implies.
   */
  restore(record: ClaimRecord, token: string): Promise<void>;
  /** Removes a claim record that cannot be read back, with its token and index entry. */
  forget(taskId: string, runner: string): Promise<void>;
  /** The ledger's generation, created if missing (see the file comment). */
  generation(): Promise<LedgerGeneration>;
  /**
   * The highest filing count (LedgerGeneration.seq) this adapter's own commits reached since
   * it was made or last `resetSeq`: the ledger's count must never be below it. Infinite once
   * a filing got a count no higher than an earlier one (the count went back and caught up).
   */
  readonly lastSeq: number;
  /** Forgets lastSeq, after the ledger was rebuilt into a new count. */
  resetSeq(): void;
  /**
   * Says this runner is alive for `ttlMs`. A runner that stops saying so (killed, or its pod
   * replaced under a new name) has its claims taken over by another (`adopt`).
   */
  heartbeat(runner: string, ttlMs: number): Promise<void>;
  /** Whether a runner's heartbeat is current. */
  alive(runner: string): Promise<boolean>;
  /** Runners with claims or pending claims in the ledger, alive or not. */
  runners(): Promise<string[]>;
  /**
   * Moves every claim and pending claim of `from` to `to`, in one step, if `from` has no
   * heartbeat; undefined if it is alive (or has nothing). Two runners adopting at once: one
   * gets the claims, the other nothing.
   */
  adopt(from: string, to: string): Promise<Adopted | undefined>;
  /** Keeps a note of the last rebuild after data loss, for `longshore status`. */
  noteRebuild(note: RebuildNote): Promise<void>;
  lastRebuild(): Promise<RebuildNote | undefined>;
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

export interface LedgerGeneration {
  id: string;
  /** When this generation was started, ms since the epoch (NaN if the marker was not ours). */
  since: number;
  /**
   * How many claims were ever filed or finished in this generation (commit and finish count
   * themselves). A replica that was promoted without the last writes has a smaller count than
   * a runner last saw: the ledger went back in time, which is data loss too, under the same
   * generation id.
   */
  seq: number;
}

/** Claims moved from a runner that stopped beating to the one that took them over. */
export interface Adopted {
  taskIds: string[];
  allocations: string[];
}

export interface RebuildNote {
  at: string;
  runner: string;
  restoredClaims: number;
  restoredPending: number;
}

const RebuildStored = z.object({
  at: z.string(),
  runner: z.string(),
  restored_claims: z.coerce.number().int().nonnegative(),
  restored_pending: z.coerce.number().int().nonnegative(),
});

export interface AllClaimsOptions {
  /** Called once per claim key that could not be read back (so callers can count them). */
  onUnreadable?: (taskId: string) => void;
}

/** Keys fetched per SCAN step and per pipelined HGETALL batch. */
const SCAN_BATCH = 200;

// What is read back is validated like an answer of the Runner API: a record written by an
// older version, or by hand, must not carry an id that breaks a header or a key later.
const Stored = z.object({
  task_id: TaskId,
  resource_class: z.string(),
  attempt: z.coerce.number().int().positive(),
  allocation: Allocation,
  runner: z.string(),
  claimed_at: z.string(),
  fetched_at: z.string().optional(),
  task: z.string(),
  announced: z.literal('1').optional(),
  launched: z.literal('1').optional(),
});

const PendingStored = z.object({
  allocation: Allocation,
  resourceClass: z.string(),
  token: TaskToken,
  claimedAt: z.string(),
});

/** A ledger entry Redis returned but we could not read back: never silently dropped. */
export class LedgerCorruptError extends Error {
  override name = 'LedgerCorruptError';
}

/** Another open claim holds the same task: the Runner API handed one task out twice. */
export class LedgerConflictError extends Error {
  override name = 'LedgerConflictError';
}

// Files a claim under its task id in one step, so that two claims of one task (a hostile or
// confused API) cannot both be filed: the second finds the first. An existing record of the
// same allocation is this claim committed already; one of another allocation may be
// replaced only when its attempt was released for a retry (retries used >= its attempt),
// which is what makes the new attempt number larger than the old one.
// Returns {1, attempt} when filed, {0, attempt} when filed already, {-1, attempt} on conflict.
const COMMIT = `
local cur = redis.call('HMGET', KEYS[1], 'allocation', 'attempt')
local attempt = tonumber(redis.call('GET', KEYS[5]) or '0') + 1
if cur[1] then
  if cur[1] == ARGV[1] then
    redis.call('HDEL', KEYS[4], ARGV[1])
    return {0, tonumber(cur[2]) or 0}
  end
  local held = tonumber(cur[2])
  if held ~= nil and held >= attempt then return {-1, held} end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'task_id', ARGV[2], 'resource_class', ARGV[3], 'attempt', attempt,
  'allocation', ARGV[1], 'runner', ARGV[4], 'claimed_at', ARGV[5], 'task', ARGV[6])
if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'fetched_at', ARGV[10]) end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[9], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[1])
return {1, attempt, redis.call('INCR', KEYS[6])}`;

// Takes over a runner's claims if it has no heartbeat: rewrites each claim's owner (only
// where the claim is still that runner's), moves the index and the pending claims. Returns
// {task ids, allocations}, or false when the runner is alive.
// KEYS: from's alive, from's claims, from's pending, to's claims, to's pending. ARGV: from,
// to, the claim key prefix.
const ADOPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local ids = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local taken = {}
for i = 1, #ids, 2 do
  local key = ARGV[3] .. ids[i]
  if redis.call('HGET', key, 'runner') == ARGV[1] then
    redis.call('HSET', key, 'runner', ARGV[2])
    redis.call('ZADD', KEYS[4], ids[i + 1], ids[i])
    table.insert(taken, ids[i])
  end
end
redis.call('DEL', KEYS[2])
local pending = redis.call('HGETALL', KEYS[3])
local allocations = {}
for i = 1, #pending, 2 do
  redis.call('HSET', KEYS[5], pending[i], pending[i + 1])
  table.insert(allocations, pending[i])
end
redis.call('DEL', KEYS[3])
return {taken, allocations}`;

// The generation marker: read it, or start a new generation when it is missing.
const GENERATION = `
local g = redis.call('GET', KEYS[1])
if not g then
  g = ARGV[1]
  redis.call('SET', KEYS[1], g)
end
return {g, tonumber(redis.call('GET', KEYS[2]) or '0')}`;

// Removes a claim only if it is still the given attempt, in one step, so a late finish of
// an old attempt cannot remove the claim of the next one.
// Counts itself in the filing count too: a finish lost in a failover would bring the claim
// back as open, and the count going back is how its runner notices.
const FINISH = `
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return {0, 0} end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return {1, redis.call('INCR', KEYS[4])}`;

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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

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
  if (!task.success || task.data.task_id !== s.data.task_id) return undefined;
  return {
    announced: s.data.announced === '1',
    launched: s.data.launched === '1',
    taskId: s.data.task_id,
    resourceClass: s.data.resource_class,
    attempt: s.data.attempt,
    allocation: s.data.allocation,
    runner: s.data.runner,
    claimedAt: s.data.claimed_at,
    ...(s.data.fetched_at === undefined ? {} : { configFetchedAt: s.data.fetched_at }),
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
  #lastSeq = 0;
  /** A filing got a count no higher than one this adapter saw before (see #observeSeq). */
  #wentBack = false;

  constructor(opts: RedisClaimLedgerOptions) {
    this.#redis = opts.redis;
    this.#keys = redisKeys(opts.keyPrefix);
    this.#prefix = opts.keyPrefix;
    this.#ttlMs = opts.tokenTtlMs;
  }

  #pendingKey(runner: string): string {
    return `${this.#prefix}:runner:${runner}:pending`;
  }

  #aliveKey(runner: string): string {
    return `${this.#prefix}:runner:${runner}:alive`;
  }

  async begin(runner: string, p: PendingClaim): Promise<void> {
    const key = this.#pendingKey(runner);
    await this.#redis.multi().hset(key, p.allocation, JSON.stringify(p)).pexpire(key, this.#ttlMs).exec();
  }

  async pending(
    runner: string,
    opts: { onUnreadable?: (allocation: string) => void } = {},
  ): Promise<PendingClaim[]> {
    const key = this.#pendingKey(runner);
    const all = await this.#redis.hgetall(key);
    const out: PendingClaim[] = [];
    for (const [allocation, v] of Object.entries(all)) {
      const parsed = PendingStored.safeParse(parseJson(v));
      if (parsed.success && parsed.data.allocation === allocation) {
        out.push(parsed.data);
        continue;
      }
      await this.#redis.hdel(key, allocation);
      opts.onUnreadable?.(allocation);
    }
    return out;
  }

  async abandon(runner: string, allocation: string): Promise<void> {
    await this.#redis.hdel(this.#pendingKey(runner), allocation);
  }

  async commit(
    runner: string,
    p: PendingClaim,
    task: TaskConfig,
    opts: { configFetchedAt?: string } = {},
  ): Promise<ClaimRecord> {
    const claimKey = this.#keys.claim(task.task_id);
    const claimedAtMs = Date.parse(p.claimedAt);
    const [result, attempt, seq] = (await this.#redis.eval(
      COMMIT,
      6,
      claimKey,
      this.#keys.token(task.task_id),
      this.#keys.runnerClaims(runner),
      this.#pendingKey(runner),
      this.#keys.retries(task.task_id),
      this.#keys.sequence(),
      p.allocation,
      task.task_id,
      p.resourceClass,
      runner,
      p.claimedAt,
      JSON.stringify(task),
      String(this.#ttlMs),
      p.token,
      String(Number.isNaN(claimedAtMs) ? Date.now() : claimedAtMs),
      opts.configFetchedAt ?? '',
    )) as [number, number, number | undefined];
    if (result === -1) {
      throw new LedgerConflictError(
        `task ${task.task_id} is already held by another open claim (attempt ${attempt}); refusing a second one`,
      );
    }
    if (result === 0) {
      const existing = await this.get(task.task_id);
      if (existing?.allocation === p.allocation) return existing;
      throw new LedgerCorruptError(`claim of task ${task.task_id} changed while it was being filed`);
    }
    this.#observeSeq(seq);
    return {
      announced: false,
      launched: false,
      taskId: task.task_id,
      resourceClass: p.resourceClass,
      attempt,
      allocation: p.allocation,
      runner,
      claimedAt: p.claimedAt,
      ...(opts.configFetchedAt === undefined ? {} : { configFetchedAt: opts.configFetchedAt }),
      task,
    };
  }

  /**
   * The filing count only ever grows (one INCR per filing, whoever files), so every count a
   * filing gets is above every count any filing got before. One that is not means the ledger
   * went back (a replica promoted without the last writes), even if later filings carry the
   * count past the old value before the watch looks: then no count can meet lastSeq again,
   * and the watch rebuilds at its next check.
   */
  #observeSeq(seq: number | undefined): void {
    if (seq === undefined || seq <= 0) return; // nothing was filed or finished
    if (seq <= this.#lastSeq) this.#wentBack = true;
    this.#lastSeq = Math.max(this.#lastSeq, seq);
  }

  get lastSeq(): number {
    return this.#wentBack ? Number.POSITIVE_INFINITY : this.#lastSeq;
  }

  resetSeq(): void {
    this.#lastSeq = 0;
    this.#wentBack = false;
  }

  async restore(r: ClaimRecord, token: string): Promise<void> {
    const claimKey = this.#keys.claim(r.taskId);
    const claimedAtMs = Date.parse(r.claimedAt);
    await this.#redis
      .multi()
      .del(claimKey)
      .hset(claimKey, {
        task_id: r.taskId,
        resource_class: r.resourceClass,
        attempt: String(r.attempt),
        allocation: r.allocation,
        runner: r.runner,
        claimed_at: r.claimedAt,
        ...(r.configFetchedAt === undefined ? {} : { fetched_at: r.configFetchedAt }),
        task: JSON.stringify(r.task),
        ...(r.announced ? { announced: '1' } : {}),
        ...(r.launched ? { launched: '1' } : {}),
      })
      .pexpire(claimKey, this.#ttlMs)
      .set(this.#keys.token(r.taskId), token, 'PX', this.#ttlMs)
      .zadd(this.#keys.runnerClaims(r.runner), Number.isNaN(claimedAtMs) ? Date.now() : claimedAtMs, r.taskId)
      .exec();
    if (r.attempt > 1) await this.recordRetry(r.taskId, r.attempt - 1);
  }

  async forget(taskId: string, runner: string): Promise<void> {
    await this.#redis
      .multi()
      .del(this.#keys.claim(taskId), this.#keys.token(taskId))
      .zrem(this.#keys.runnerClaims(runner), taskId)
      .exec();
  }

  async generation(): Promise<LedgerGeneration> {
    const fresh = `${randomBytes(8).toString('hex')}@${Date.now()}`;
    const [raw, seq] = (await this.#redis.eval(
      GENERATION,
      2,
      this.#keys.generation(),
      this.#keys.sequence(),
      fresh,
    )) as [string, number];
    const g = String(raw);
    const at = g.lastIndexOf('@');
    return { id: g, since: at < 0 ? Number.NaN : Number(g.slice(at + 1)), seq: Number(seq) };
  }

  async heartbeat(runner: string, ttlMs: number): Promise<void> {
    await this.#redis.set(this.#aliveKey(runner), '1', 'PX', ttlMs);
  }

  async alive(runner: string): Promise<boolean> {
    return (await this.#redis.exists(this.#aliveKey(runner))) === 1;
  }

  async runners(): Promise<string[]> {
    const found = new Set<string>();
    const prefix = `${this.#prefix}:runner:`;
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_BATCH);
      cursor = next;
      for (const key of keys) {
        const m = /^(.*):(claims|pending)$/.exec(key.slice(prefix.length));
        if (m?.[1] !== undefined) found.add(m[1]);
      }
    } while (cursor !== '0');
    return [...found].sort();
  }

  async adopt(from: string, to: string): Promise<Adopted | undefined> {
    if (from === to) return undefined;
    const r = (await this.#redis.eval(
      ADOPT,
      5,
      this.#aliveKey(from),
      this.#keys.runnerClaims(from),
      this.#pendingKey(from),
      this.#keys.runnerClaims(to),
      this.#pendingKey(to),
      from,
      to,
      this.#keys.claim(''),
    )) as [string[], string[]] | null;
    if (r === null) return undefined;
    const [taskIds, allocations] = r;
    return taskIds.length + allocations.length === 0 ? undefined : { taskIds, allocations };
  }

  async noteRebuild(note: RebuildNote): Promise<void> {
    await this.#redis.hset(this.#keys.lastRebuild(), {
      at: note.at,
      runner: note.runner,
      restored_claims: String(note.restoredClaims),
      restored_pending: String(note.restoredPending),
    });
  }

  async lastRebuild(): Promise<RebuildNote | undefined> {
    const h = await this.#redis.hgetall(this.#keys.lastRebuild());
    const r = RebuildStored.safeParse(h);
    if (!r.success) return undefined;
    return {
      at: r.data.at,
      runner: r.data.runner,
      restoredClaims: r.data.restored_claims,
      restoredPending: r.data.restored_pending,
    };
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
    const [removed, seq] = (await this.#redis.eval(
      FINISH,
      4,
      this.#keys.claim(taskId),
      this.#keys.token(taskId),
      this.#keys.runnerClaims(runner ?? ''),
      this.#keys.sequence(),
      String(attempt),
      taskId,
    )) as [number, number];
    this.#observeSeq(seq);
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
