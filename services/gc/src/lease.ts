// One sweep per interval however many GC replicas run: whoever sets the lease key first
// (SET NX PX interval) sweeps; the others skip that tick. A plain Redis lease rather than a
// BullMQ repeatable job: there is no queue to keep, nothing to retry (the next interval is
// the retry), and a crashed holder's lease simply expires. The holder extends it while a
// long sweep is still going, so a second replica does not start a parallel one.
import type { Redis } from 'ioredis';

const EXTEND = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

export class SweepLease {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #owner: string;

  constructor(redis: Redis, key: string, owner: string) {
    this.#redis = redis;
    this.#key = key;
    this.#owner = owner;
  }

  /** True when this instance holds the lease for the next `ms`. */
  async acquire(ms: number): Promise<boolean> {
    return (await this.#redis.set(this.#key, this.#owner, 'PX', ms, 'NX')) === 'OK';
  }

  /** Keeps holding it for another `ms`; false when it was lost (expired and taken). */
  async extend(ms: number): Promise<boolean> {
    return (await this.#redis.eval(EXTEND, 1, this.#key, this.#owner, String(ms))) === 1;
  }
}
