// The lease's decisions (nextLeaseState), and leases on an in-memory bucket that behaves as
// JetStream does for them (revision-checked writes, entries expiring a TTL after they were
// written), under fake timers: one holder at a time, a takeover after the holder is cut
// off, never two holders, a lost answer that costs nothing, a release handed over at once,
// and work run only while the lease is held.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Lease,
  type LeasedWork,
  type LeaseRecord,
  type LeaseStore,
  leaseTiming,
  NO_LEASE,
  nextLeaseState,
  runWhileHeld,
  startLease,
} from './lease.ts';
import type { BusLogger } from './observe.ts';

const T = leaseTiming(10_000);

describe('nextLeaseState', () => {
  it('a confirmed write holds until its send time + TTL - margin, and renews a quarter TTL after sending', () => {
    const { state, waitMs } = nextLeaseState(NO_LEASE, { kind: 'written', revision: 7 }, 1_000, 1_300, T);
    expect(state).toEqual({ revision: 7, validUntil: 1_000 + 10_000 - 1_000 });
    expect(waitMs).toBe(2_500 - 300);
  });

  it('an unanswered renewal keeps what is left (and the revision), and tries again sooner than a standby', () => {
    const held = { revision: 7, validUntil: 10_000 };
    const err = new Error('timeout');
    expect(nextLeaseState(held, { kind: 'no-answer', error: err }, 5_000, 7_000, T)).toEqual({
      state: held,
      waitMs: 1_000,
    });
    expect(nextLeaseState(NO_LEASE, { kind: 'no-answer', error: err }, 5_000, 7_000, T)).toEqual({
      state: NO_LEASE,
      waitMs: 2_000,
    });
  });

  it('another holder ends the lease at once; a free key is tried again at once', () => {
    const held = { revision: 7, validUntil: 10_000 };
    expect(nextLeaseState(held, { kind: 'other', holder: 'b' }, 1, 2, T)).toEqual({
      state: NO_LEASE,
      waitMs: 2_000,
    });
    expect(nextLeaseState(held, { kind: 'free' }, 1, 2, T)).toEqual({ state: NO_LEASE, waitMs: 0 });
  });

  it('finding its own unconfirmed write adopts the revision without extending the lease', () => {
    const held = { revision: 7, validUntil: 10_000 };
    expect(nextLeaseState(held, { kind: 'ours', revision: 8 }, 1, 2, T)).toEqual({
      state: { revision: 8, validUntil: 10_000 },
      waitMs: 0,
    });
  });

  it('refuses a TTL under a second', () => {
    expect(() => leaseTiming(500)).toThrow(RangeError);
  });
});

/** The lease key as JetStream keeps it: writes checked against the last revision, entries expiring. */
class MemoryBucket {
  revision = 0;
  entry: { record: LeaseRecord; revision: number; writtenAt: number } | undefined;
  readonly ttlMs: number;
  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  #live() {
    if (this.entry && performance.now() >= this.entry.writtenAt + this.ttlMs) this.entry = undefined;
    return this.entry;
  }

  write(record: LeaseRecord, expected: number): number | undefined {
    if ((this.#live()?.revision ?? 0) !== expected) return undefined;
    this.revision++;
    this.entry = { record, revision: this.revision, writtenAt: performance.now() };
    return this.revision;
  }

  /** One replica's view of the bucket, which the test can cut off or make lose answers. */
  client(): LeaseStore & { cut: boolean; loseNextAnswer: boolean } {
    const call = async <R>(fn: () => R): Promise<R> => {
      await Promise.resolve();
      if (client.cut) throw new Error('no answer');
      const r = fn();
      if (client.loseNextAnswer) {
        client.loseNextAnswer = false;
        throw new Error('answer lost');
      }
      return r;
    };
    const client = {
      cut: false,
      loseNextAnswer: false,
      create: (record: LeaseRecord) => call(() => this.write(record, 0) ?? ('exists' as const)),
      update: (record: LeaseRecord, revision: number) =>
        call(() => this.write(record, revision) ?? ('conflict' as const)),
      read: () =>
        call(() => {
          const e = this.#live();
          return e && { record: e.record, revision: e.revision };
        }),
      remove: (revision: number) =>
        call(() => {
          if (this.#live()?.revision === revision) this.entry = undefined;
        }),
      close: async () => {},
    };
    return client;
  }
}

const quiet: BusLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Every change of holding, with the fake clock's time. */
function timeline(leases: Record<string, Lease>): Array<[number, string, boolean]> {
  const seen: Array<[number, string, boolean]> = [];
  for (const [name, l] of Object.entries(leases)) l.onChange((h) => seen.push([performance.now(), name, h]));
  return seen;
}

/** Advances the fake clock in steps, checking at each that at most one lease is held. */
async function advance(ms: number, leases: Lease[]): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    await vi.advanceTimersByTimeAsync(50);
    expect(leases.filter((l) => l.held()).length).toBeLessThanOrEqual(1);
  }
}

describe('a lease on a bucket that behaves as JetStream does', () => {
  let bucket: MemoryBucket;
  const open: Lease[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    bucket = new MemoryBucket(T.ttlMs);
  });
  afterEach(async () => {
    for (const l of open.splice(0)) {
      const closing = l.close();
      await vi.advanceTimersByTimeAsync(T.retryMs);
      await closing;
    }
    vi.useRealTimers();
  });
  const lease = (holder: string, store: LeaseStore = bucket.client()) => {
    const l = startLease(store, { name: 'work', holder, timing: T, logger: quiet });
    open.push(l);
    return l;
  };

  it('has one holder; when it is cut off, it lets go before the other takes over, within TTL + a try', async () => {
    const aStore = bucket.client();
    const a = lease('a', aStore);
    await advance(100, [a]);
    const b = lease('b');
    const seen = timeline({ a, b });
    await advance(3 * T.ttlMs, [a, b]);
    expect(a.held()).toBe(true);
    expect(b.held()).toBe(false);
    expect(b.reachable()).toBe(true);
    expect(seen).toEqual([]);

    const cutAt = performance.now();
    aStore.cut = true;
    await advance(2 * T.ttlMs, [a, b]);
    expect(a.held()).toBe(false);
    expect(b.held()).toBe(true);
    expect(a.reachable()).toBe(false);
    const [lost, taken, ...more] = seen;
    expect(more).toEqual([]);
    expect(lost?.slice(1)).toEqual(['a', false]);
    expect(taken?.slice(1)).toEqual(['b', true]);
    // a stopped first, and b took over no later than the TTL after a's last write plus one try.
    expect(lost![0]).toBeLessThan(taken![0]);
    expect(taken![0] - cutAt).toBeLessThanOrEqual(T.ttlMs + T.retryMs + 100);

    // Back in touch, a stands by: its old revision no longer counts.
    aStore.cut = false;
    await advance(2 * T.ttlMs, [a, b]);
    expect([a.held(), b.held()]).toEqual([false, true]);
  });

  it('a renewal whose answer was lost keeps the lease without a gap', async () => {
    const store = bucket.client();
    const a = lease('a', store);
    const b = lease('b');
    await advance(100, [a, b]);
    const seen = timeline({ a, b });
    store.loseNextAnswer = true;
    await advance(3 * T.ttlMs, [a, b]);
    expect(a.held()).toBe(true);
    expect(seen).toEqual([]);
  });

  it('a released lease goes to the standby at its next try, long before the TTL', async () => {
    const a = lease('a');
    await advance(100, [a]);
    const b = lease('b');
    await advance(T.ttlMs, [a, b]);
    const closing = a.close();
    open.splice(open.indexOf(a), 1);
    await advance(T.retryMs + 100, [a, b]);
    await closing;
    expect(b.held()).toBe(true);
  });

  it('runWhileHeld starts the work on the holder only, stops it when the lease is lost, and the new holder starts it afresh', async () => {
    const aStore = bucket.client();
    const a = lease('a', aStore);
    await advance(100, [a]);
    const b = lease('b');
    const events: string[] = [];
    const runner = (l: Lease, name: string) =>
      runWhileHeld(
        l,
        async () => {
          events.push(`${name} start`);
          return { stop: async () => void events.push(`${name} stop`) };
        },
        { logger: quiet, onStartFailure: (err) => events.push(`${name} failed ${err}`) },
      );
    const ra = runner(a, 'a');
    const rb = runner(b, 'b');
    await advance(T.ttlMs, [a, b]);
    expect(events).toEqual(['a start']);
    expect(ra.current()).toBeDefined();
    expect(rb.current()).toBeUndefined();

    aStore.cut = true;
    await advance(2 * T.ttlMs, [a, b]);
    expect(events).toEqual(['a start', 'a stop', 'b start']);
    await rb.stop();
    expect(events.at(-1)).toBe('b stop');
    await ra.stop();
  });

  it('runWhileHeld aborts a start that is still waiting when the lease is lost, and reports a start that failed', async () => {
    const store = bucket.client();
    const a = lease('a', store);
    await advance(100, [a]);
    const aborted: unknown[] = [];
    const stuck = runWhileHeld(
      a,
      (signal) =>
        new Promise<LeasedWork>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted.push(signal.reason);
            reject(signal.reason);
          });
        }),
      { logger: quiet, onStartFailure: () => aborted.push('reported as a failure') },
    );
    store.cut = true;
    await advance(T.ttlMs, [a]);
    expect(aborted).toHaveLength(1);
    expect((aborted[0] as Error).name).toBe('LeaseLostError');
    await stuck.stop();

    const b = lease('b');
    await advance(2 * T.ttlMs, [a, b]);
    const failures: unknown[] = [];
    const failing = runWhileHeld(
      b,
      async () => {
        throw new Error('bad config');
      },
      { logger: quiet, onStartFailure: (err) => failures.push(err) },
    );
    await advance(100, [a, b]);
    expect(failures.map((e) => (e as Error).message)).toEqual(['bad config']);
    await failing.stop();
  });
});
