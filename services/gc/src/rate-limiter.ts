// Spaces the GC's Kubernetes requests evenly at no more than `perSecond`, with no burst:
// a sweep of thousands of objects must not crowd out the scheduler's and the apiserver's
// other clients. Callers may run requests concurrently; each waits for its own slot.
import { setTimeout as sleep } from 'node:timers/promises';

export class RateLimiter {
  readonly #intervalMs: number;
  #next = 0;

  constructor(perSecond: number) {
    if (!(perSecond > 0)) throw new RangeError(`perSecond must be > 0, got ${perSecond}`);
    this.#intervalMs = 1000 / perSecond;
  }

  /** Resolves when the caller may send one request. */
  async take(): Promise<void> {
    const now = performance.now();
    const at = Math.max(now, this.#next);
    this.#next = at + this.#intervalMs;
    if (at > now) await sleep(at - now);
  }
}
