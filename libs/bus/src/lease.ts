// A lease: among the replicas of a service, one at a time does the work that must not be
// done twice at once (the constraint checker's counting, the vm-scaler's polling and
// scaling); the others stand by and one of them takes over within a bounded time when the
// holder dies (kill -9) or is cut off from NATS.
//
// It lives in a NATS KV bucket of its own, `<prefix>_lease_<name>`, whose entries expire
// after the lease's TTL (the stream's max_age). A replica takes the key with `create`
// (refused while an entry lives) and the holder renews it with `update` checked against
// the revision it last wrote, so two holders are impossible: a standby's create fails
// while the holder's entry lives, and a holder that was cut off fails its next update once
// another has written. No clock has to agree with another: the holder counts from when it
// *sent* its last confirmed write (the server's entry cannot be older) and gives the lease
// up a margin before the server can expire that entry, so it has stopped before anyone
// else can take over. What a replica may do while it holds the lease is `runWhileHeld`'s:
// it starts the work when the lease is taken and stops it when it is lost.
//
// A lease opens its own NATS connection (the Bus has no revision-checked writes); nats-server
// 2.9 has everything used here: expected-last-subject-sequence writes and max_age.
import { randomBytes } from 'node:crypto';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StreamUpdateConfig,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type NatsConnection, nanos } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { z } from 'zod';
import { BusError, BusSetupError } from './errors.ts';
import { type BusLogger, errorFields, stderrLogger } from './observe.ts';

/** Ten seconds: a takeover after kill -9 within about 12 s; a holder rides out ~7 s of NATS trouble. */
export const DEFAULT_LEASE_TTL_MS = 10_000;

/** The pace of a lease, all derived from its TTL. */
export interface LeaseTiming {
  readonly ttlMs: number;
  /** A holder renews this long after sending its last confirmed write. */
  readonly renewMs: number;
  /**
   * A standby tries to take the lease this often, a holder whose renewal went unanswered
   * tries again this soon, and each request gives up after this long.
   */
  readonly retryMs: number;
  /** A holder gives the lease up this long before the server could expire its last write. */
  readonly marginMs: number;
}

export function leaseTiming(ttlMs: number): LeaseTiming {
  if (!Number.isFinite(ttlMs) || ttlMs < 1_000)
    throw new RangeError(`a lease TTL must be at least 1000 ms, not ${ttlMs}`);
  // Four renewals per TTL: a holder that sees up to two of them go unanswered keeps the lease.
  return { ttlMs, renewMs: ttlMs / 4, retryMs: ttlMs / 5, marginMs: ttlMs / 10 };
}

/** What one replica knows of the lease; times are on its monotonic clock (performance.now()). */
export interface LeaseState {
  /** The revision of this replica's last write of the key, while that may still be the key's last. */
  readonly revision: number | undefined;
  /** Until when this replica holds the lease: its last confirmed write's send time + TTL - margin. */
  readonly validUntil: number;
}

export const NO_LEASE: LeaseState = { revision: undefined, validUntil: 0 };

/** What an attempt to take or renew the lease found. */
export type LeaseAttempt =
  /** This replica's create or update was confirmed. */
  | { readonly kind: 'written'; readonly revision: number }
  /** The key's last write is this replica's own, whose answer was lost: renew from it. */
  | { readonly kind: 'ours'; readonly revision: number }
  /** Another replica holds it. */
  | { readonly kind: 'other'; readonly holder: string }
  /** Nobody holds it now (it expired or was released between the write and the read). */
  | { readonly kind: 'free' }
  /** NATS did not answer (down, cut off, the stream has no leader, a timeout). */
  | { readonly kind: 'no-answer'; readonly error: unknown };

export function isHeld(state: LeaseState, now: number): boolean {
  return state.revision !== undefined && now < state.validUntil;
}

/**
 * The state after an attempt sent at `sentAt` and answered (or not) at `now`, and how long
 * to wait before the next one. Only a confirmed write extends the lease; an unanswered
 * renewal keeps what is left of it, and finding another holder ends it at once.
 */
export function nextLeaseState(
  state: LeaseState,
  attempt: LeaseAttempt,
  sentAt: number,
  now: number,
  t: LeaseTiming,
): { state: LeaseState; waitMs: number } {
  switch (attempt.kind) {
    case 'written':
      return {
        state: { revision: attempt.revision, validUntil: sentAt + t.ttlMs - t.marginMs },
        waitMs: Math.max(0, sentAt + t.renewMs - now),
      };
    case 'ours':
      return { state: { revision: attempt.revision, validUntil: state.validUntil }, waitMs: 0 };
    case 'other':
      return { state: NO_LEASE, waitMs: t.retryMs };
    case 'free':
      return { state: NO_LEASE, waitMs: 0 };
    case 'no-answer':
      // Keep the revision even past validUntil: an update from it that succeeds proves that
      // nobody wrote since, so the lease is rightly this replica's again. A holder tries
      // again sooner than a standby: it has only what is left of its TTL.
      return { state, waitMs: state.revision === undefined ? t.retryMs : t.retryMs / 2 };
  }
}

/** The value of the lease key: who holds it (for the others' logs) and which process. */
export const LeaseRecord = z.object({
  holder: z.string(),
  /** Random per process: a restarted replica with the same name is not the old holder. */
  id: z.string(),
  at: z.string(),
});
export type LeaseRecord = z.infer<typeof LeaseRecord>;

/** What a lease needs of its bucket; `openLease` gives the NATS KV adapter. */
export interface LeaseStore {
  /** Writes the key if no entry lives; its revision, or 'exists'. */
  create(record: LeaseRecord): Promise<number | 'exists'>;
  /** Writes the key if `revision` is still its last write; the new revision, or 'conflict'. */
  update(record: LeaseRecord, revision: number): Promise<number | 'conflict'>;
  /** The living entry (record undefined when unreadable), or undefined when there is none. */
  read(): Promise<{ record: LeaseRecord | undefined; revision: number } | undefined>;
  /** Deletes the key if `revision` is still its last write; otherwise leaves it. */
  remove(revision: number): Promise<void>;
  close(): Promise<void>;
}

export interface Lease {
  /** What is leased, e.g. `constraints`. */
  readonly name: string;
  readonly timing: LeaseTiming;
  /** This replica holds the lease now, with the margin to spare. */
  held(): boolean;
  /**
   * The lease's bucket answered within the last TTL, so this replica could take over: what a
   * standby's readiness means (it does not mean holding the lease).
   */
  reachable(): boolean;
  /** Calls `listener(true)` when this replica takes the lease, `(false)` when it loses or gives it up. */
  onChange(listener: (held: boolean) => void): () => void;
  /** Gives the lease up (a standby takes it at its next try) and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/** The abort reason of work stopped because its replica lost the lease. */
export class LeaseLostError extends BusError {
  override name = 'LeaseLostError';
}

export interface LeaseSettings {
  /** What is leased: letters, digits, '-'. */
  name: string;
  /** Who asks: the replica's instance name, shown to the others and in logs. */
  holder: string;
  timing: LeaseTiming;
  logger: BusLogger;
}

/** A lease on `store`, trying to take it at once. `openLease` is this on NATS. */
export function startLease(store: LeaseStore, settings: LeaseSettings): Lease {
  return new StoreLease(store, settings);
}

class StoreLease implements Lease {
  readonly name: string;
  readonly timing: LeaseTiming;
  readonly #store: LeaseStore;
  readonly #holder: string;
  readonly #id = randomBytes(8).toString('hex');
  readonly #logger: BusLogger;
  readonly #listeners = new Set<(held: boolean) => void>();
  readonly #stop = new AbortController();
  #state: LeaseState = NO_LEASE;
  /** What the listeners were last told. */
  #announced = false;
  #lastAnswer: number | undefined;
  #otherHolder: string | undefined;
  #unanswered = false;
  #expiry: NodeJS.Timeout | undefined;
  readonly #loop: Promise<void>;
  #closing: Promise<void> | undefined;

  constructor(store: LeaseStore, s: LeaseSettings) {
    this.name = s.name;
    this.timing = s.timing;
    this.#store = store;
    this.#holder = s.holder;
    this.#logger = s.logger;
    this.#loop = this.#run();
  }

  held(): boolean {
    return isHeld(this.#state, performance.now());
  }

  reachable(): boolean {
    return this.#lastAnswer !== undefined && performance.now() - this.#lastAnswer < this.timing.ttlMs;
  }

  onChange(listener: (held: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    clearTimeout(this.#expiry);
    const { revision } = this.#state;
    this.#state = NO_LEASE;
    this.#announce('released');
    try {
      // Released rather than left to expire, so a standby takes over at its next try.
      if (revision !== undefined) {
        await this.#store.remove(revision);
        this.#logger.info({ lease: this.name, holder: this.#holder }, 'lease released');
      }
    } catch (err) {
      this.#logger.warn({ lease: this.name, ...errorFields(err) }, 'lease not released; it will expire');
    } finally {
      await this.#store.close();
    }
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      const sentAt = performance.now();
      const attempt = await this.#attempt();
      const { state, waitMs } = nextLeaseState(this.#state, attempt, sentAt, performance.now(), this.timing);
      this.#state = state;
      this.#observe(attempt);
      this.#announce();
      this.#armExpiry();
      await sleep(waitMs, signal);
    }
  }

  async #attempt(): Promise<LeaseAttempt> {
    const record: LeaseRecord = { holder: this.#holder, id: this.#id, at: new Date().toISOString() };
    try {
      const { revision } = this.#state;
      const written =
        revision === undefined
          ? await this.#store.create(record)
          : await this.#store.update(record, revision);
      if (typeof written === 'number') return { kind: 'written', revision: written };
      const current = await this.#store.read();
      if (current === undefined) return { kind: 'free' };
      if (current.record?.id === this.#id) return { kind: 'ours', revision: current.revision };
      return { kind: 'other', holder: current.record?.holder ?? 'an unreadable holder' };
    } catch (err) {
      return { kind: 'no-answer', error: err };
    }
  }

  /** Logs what changed: who holds it, and whether NATS answers. */
  #observe(a: LeaseAttempt): void {
    const base = { lease: this.name, holder: this.#holder };
    if (a.kind === 'no-answer') {
      if (!this.#unanswered)
        this.#logger.warn({ ...base, ...errorFields(a.error) }, 'lease bucket not answering; retrying');
      this.#unanswered = true;
      return;
    }
    this.#lastAnswer = performance.now();
    if (this.#unanswered) this.#logger.info(base, 'lease bucket answering again');
    this.#unanswered = false;
    if (a.kind === 'other' && a.holder !== this.#otherHolder)
      this.#logger.info({ ...base, held_by: a.holder }, 'lease held by another replica; standing by');
    this.#otherHolder = a.kind === 'other' ? a.holder : undefined;
  }

  /** Tells the listeners when holding changed (taken; lost, renewed too late or released). */
  #announce(why?: 'released'): void {
    const held = this.held();
    if (held === this.#announced) return;
    this.#announced = held;
    const fields = { lease: this.name, holder: this.#holder, ttl_ms: this.timing.ttlMs };
    if (held) this.#logger.info(fields, 'lease taken');
    else if (why !== 'released') this.#logger.warn(fields, 'lease lost');
    for (const l of [...this.#listeners]) {
      try {
        l(held);
      } catch (err) {
        this.#logger.error({ lease: this.name, ...errorFields(err) }, 'lease listener failed');
      }
    }
  }

  /** Ends the lease on time even while a renewal hangs: at validUntil, if nothing renewed it. */
  #armExpiry(): void {
    clearTimeout(this.#expiry);
    if (!this.held()) return;
    // Timers may fire a fraction of a millisecond early: check again, and re-arm if so.
    this.#expiry = setTimeout(
      () => {
        this.#announce();
        this.#armExpiry();
      },
      Math.ceil(this.#state.validUntil - performance.now()) + 1,
    );
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---------------------------------------------------------------- running work under a lease

export interface LeasedWork {
  stop(): Promise<void>;
}

export interface LeasedRunner<T> {
  /** The work, while this replica runs it; undefined on a standby and while it starts. */
  current(): T | undefined;
  /** Stops the work and stops following the lease (the lease stays open). Idempotent. */
  stop(): Promise<void>;
}

export interface RunWhileHeldOptions {
  logger: BusLogger;
  /**
   * `start` failed for another reason than the lease being lost or the runner stopped (a
   * configuration error, say). The runner does not try again: this decides (e.g. exit, so
   * that a replica that can do the work takes over).
   */
  onStartFailure: (err: unknown) => void;
}

/**
 * Runs `start`'s work while this replica holds `lease`: started when the lease is taken
 * (so a takeover reads its state afresh), stopped when it is lost, started again when it is
 * taken again. `signal` aborts (reason LeaseLostError) the moment the lease is lost, so a
 * start still waiting for something gives up, and running work can stop at once.
 */
export function runWhileHeld<T extends LeasedWork>(
  lease: Lease,
  start: (signal: AbortSignal) => Promise<T>,
  opts: RunWhileHeldOptions,
): LeasedRunner<T> {
  const { logger } = opts;
  let work: T | undefined;
  let controller: AbortController | undefined;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();

  const sync = async (): Promise<void> => {
    const want = !stopped && lease.held();
    if (want && controller === undefined) {
      const ac = new AbortController();
      controller = ac;
      try {
        const w = await start(ac.signal);
        if (ac.signal.aborted) await w.stop();
        else work = w;
      } catch (err) {
        if (!ac.signal.aborted) opts.onStartFailure(err);
      }
      if (work === undefined) controller = undefined;
    } else if (!want && controller !== undefined) {
      controller.abort(new LeaseLostError(`lease ${lease.name} lost`));
      const w = work;
      work = undefined;
      controller = undefined;
      await w
        ?.stop()
        .catch((err: unknown) =>
          logger.error({ lease: lease.name, ...errorFields(err) }, 'stopping the leased work failed'),
        );
    }
  };
  const schedule = () => {
    chain = chain
      .then(sync)
      .catch((err: unknown) =>
        logger.error({ lease: lease.name, ...errorFields(err) }, 'following the lease failed'),
      );
    return chain;
  };
  const unsubscribe = lease.onChange((held) => {
    // At once, not behind a start still in progress: that start must give up.
    if (!held) controller?.abort(new LeaseLostError(`lease ${lease.name} lost`));
    void schedule();
  });
  void schedule();

  let stopping: Promise<void> | undefined;
  return {
    current: () => work,
    stop: () => {
      stopping ??= (() => {
        stopped = true;
        unsubscribe();
        controller?.abort(new LeaseLostError(`lease ${lease.name} given up: stopping`));
        return schedule();
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------- on NATS

export interface LeaseOptions {
  /** NATS URL(s). */
  servers: string | string[];
  /** The bus prefix: the bucket is `<prefix>_lease_<name>`. */
  prefix: string;
  /** What is leased: letters, digits, '-' (e.g. `constraints`). */
  name: string;
  /** Who asks: the replica's instance name. */
  holder: string;
  /** Default DEFAULT_LEASE_TTL_MS. Every replica of one lease must use the same. */
  ttlMs?: number;
  /** Copies of the bucket (config `bus.replicas`): 3 on a three-node cluster. Unset: 1 when created. */
  replicas?: number;
  logger?: BusLogger;
}

const NAME_RE = /^[A-Za-z0-9-]+$/;
const KEY = 'holder';

/**
 * Connects to NATS, makes sure of the lease's bucket and starts trying to take the lease.
 * Throws BusSetupError when NATS or the bucket cannot be reached (callers wait and retry).
 */
export async function openLease(opts: LeaseOptions): Promise<Lease> {
  if (!NAME_RE.test(opts.name))
    throw new BusSetupError(`lease name "${opts.name}" must be letters, digits or '-'`);
  const timing = leaseTiming(opts.ttlMs ?? DEFAULT_LEASE_TTL_MS);
  const bucket = `${opts.prefix}_lease_${opts.name}`;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: `${opts.holder}-lease-${opts.name}`,
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new BusSetupError(`cannot connect to NATS for lease ${opts.name}`, { cause: err });
  }
  const store = new KvLeaseStore(nc, bucket, timing, opts.replicas);
  try {
    await store.setUp();
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new BusSetupError(`cannot open lease bucket ${bucket}`, { cause: err });
  }
  return startLease(store, {
    name: opts.name,
    holder: opts.holder,
    timing,
    logger: opts.logger ?? stderrLogger(),
  });
}

/** The lease key in a KV bucket whose max_age is the TTL. */
class KvLeaseStore implements LeaseStore {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #timing: LeaseTiming;
  readonly #replicas: number | undefined;
  #kv: KV | undefined;
  #jsm: JetStreamManager | undefined;

  constructor(nc: NatsConnection, bucket: string, timing: LeaseTiming, replicas: number | undefined) {
    this.#nc = nc;
    this.#bucket = bucket;
    this.#timing = timing;
    this.#replicas = replicas;
  }

  /**
   * Creates the bucket, or brings an existing one to this TTL and replica count: a bucket
   * that expired entries sooner than the holders count would let a standby in early.
   */
  async setUp(): Promise<KV> {
    this.#jsm ??= await jetstreamManager(this.#nc, { timeout: this.#timing.retryMs });
    // Requests give up within retryMs, so an unanswered renewal is retried in time.
    const js = jetstream(this.#nc, { timeout: this.#timing.retryMs });
    const kv = await new Kvm(js).create(this.#bucket, {
      history: 1,
      ttl: this.#timing.ttlMs,
      ...(this.#replicas === undefined ? {} : { replicas: this.#replicas }),
    });
    const status = await kv.status();
    const change: Partial<StreamUpdateConfig> = {};
    if (status.ttl !== this.#timing.ttlMs) {
      // The server keeps the duplicate window within max_age (KV does not use it).
      change.max_age = nanos(this.#timing.ttlMs);
      change.duplicate_window = nanos(this.#timing.ttlMs);
    }
    if (this.#replicas !== undefined && status.replicas !== this.#replicas)
      change.num_replicas = this.#replicas;
    if (Object.keys(change).length > 0) await this.#jsm.streams.update(status.streamInfo.config.name, change);
    this.#kv = kv;
    return kv;
  }

  /** The bucket, set up again after a failure (it may have been deleted, or NATS restarted empty). */
  async #bucketKv(): Promise<KV> {
    return this.#kv ?? this.setUp();
  }

  async #write<T>(fn: (kv: KV) => Promise<number>, refused: T): Promise<number | T> {
    try {
      return await fn(await this.#bucketKv());
    } catch (err) {
      if (isWrongLastSequence(err)) return refused;
      this.#kv = undefined;
      throw err;
    }
  }

  create(record: LeaseRecord): Promise<number | 'exists'> {
    return this.#write((kv) => kv.create(KEY, JSON.stringify(record)), 'exists' as const);
  }

  update(record: LeaseRecord, revision: number): Promise<number | 'conflict'> {
    return this.#write((kv) => kv.update(KEY, JSON.stringify(record), revision), 'conflict' as const);
  }

  async read(): Promise<{ record: LeaseRecord | undefined; revision: number } | undefined> {
    let e: Awaited<ReturnType<KV['get']>>;
    try {
      e = await (await this.#bucketKv()).get(KEY);
    } catch (err) {
      this.#kv = undefined;
      throw err;
    }
    if (e === null || e.operation !== 'PUT') return undefined;
    const parsed = LeaseRecord.safeParse(safeJson(e.string()));
    return { record: parsed.success ? parsed.data : undefined, revision: e.revision };
  }

  async remove(revision: number): Promise<void> {
    try {
      await (await this.#bucketKv()).delete(KEY, { previousSeq: revision });
    } catch (err) {
      // Someone else wrote since: the lease is no longer ours to release.
      if (!isWrongLastSequence(err)) throw err;
    }
  }

  async close(): Promise<void> {
    await this.#nc.close();
  }
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
