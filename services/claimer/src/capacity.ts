// How many tasks this runner instance may hold: agent.maxConcurrentTasks across all its
// classes, and optionally a cap per class. A slot is taken before a claim is attempted
// (so concurrent loops can never overshoot) and given back when the claim answers no work,
// or when the task it won has ended.

export class Capacity {
  readonly #max: number;
  readonly #perClass: Record<string, number | undefined>;
  readonly #held = new Map<string, number>();
  #total = 0;
  #waiters: (() => void)[] = [];

  constructor(max: number, perClass: Record<string, number | undefined> = {}) {
    this.#max = max;
    this.#perClass = perClass;
  }

  get inFlight(): number {
    return this.#total;
  }

  heldBy(rc: string): number {
    return this.#held.get(rc) ?? 0;
  }

  tryAcquire(rc: string): boolean {
    const cap = this.#perClass[rc];
    if (this.#total >= this.#max || (cap !== undefined && this.heldBy(rc) >= cap)) return false;
    this.#held.set(rc, this.heldBy(rc) + 1);
    this.#total++;
    return true;
  }

  /** Takes a slot whatever the limits: for claims found in the ledger at start. */
  hold(rc: string): void {
    this.#held.set(rc, this.heldBy(rc) + 1);
    this.#total++;
  }

  release(rc: string): void {
    const n = this.heldBy(rc);
    if (n === 0) return;
    this.#held.set(rc, n - 1);
    this.#total--;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next release (or when the signal aborts); callers try again then. */
  changed(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
