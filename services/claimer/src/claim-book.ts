// The claims this runner holds, in memory: one entry per claim from the moment the Runner
// API answers until the claim is closed, each holding one slot of Capacity. It is what makes
// a slot go back exactly once (closing twice, or closing a claim this runner never held,
// changes nothing), and it is the copy of the ledger that survives Redis losing its data:
// everything needed to write a claim back (token, allocation, record) is here.
import type { ClaimRecord, PendingClaim } from '@longshore/ledger';
import type { Capacity } from './capacity.ts';

export interface OpenClaim {
  readonly pending: PendingClaim;
  /** Set once the claim is filed under its task id. */
  record: ClaimRecord | undefined;
}

export class ClaimBook {
  readonly #capacity: Capacity;
  /** allocation -> claim */
  readonly #byAllocation = new Map<string, OpenClaim>();
  /** task id -> allocation, for claims filed under their task id */
  readonly #byTask = new Map<string, string>();

  constructor(capacity: Capacity) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#byAllocation.size;
  }

  /**
   * Takes a claim in. `slotHeld`: the claim loop acquired its slot before claiming; a claim
   * found in the ledger at start takes one now, whatever the limits. A second open of the
   * same allocation is refused (false) and takes nothing.
   */
  open(p: PendingClaim, slotHeld: boolean): boolean {
    if (this.#byAllocation.has(p.allocation)) return false;
    if (!slotHeld) this.#capacity.hold(p.resourceClass);
    this.#byAllocation.set(p.allocation, { pending: p, record: undefined });
    return true;
  }

  /** Gives back a slot the claim loop took for a claim that was never opened here. */
  releaseSlot(resourceClass: string): void {
    this.#capacity.release(resourceClass);
  }

  /** The claim is filed under its task id. */
  filed(record: ClaimRecord): void {
    const c = this.#byAllocation.get(record.allocation);
    if (c === undefined) return;
    c.record = record;
    this.#byTask.set(record.taskId, record.allocation);
  }

  get(allocation: string): OpenClaim | undefined {
    return this.#byAllocation.get(allocation);
  }

  /** The open claim of a task attempt, if this runner holds it. */
  byTask(taskId: string, attempt: number): OpenClaim | undefined {
    const allocation = this.#byTask.get(taskId);
    const c = allocation === undefined ? undefined : this.#byAllocation.get(allocation);
    return c?.record?.attempt === attempt ? c : undefined;
  }

  /** Closes a claim and frees its slot; false when it was not open. */
  close(allocation: string): boolean {
    const c = this.#byAllocation.get(allocation);
    if (c === undefined) return false;
    this.#byAllocation.delete(allocation);
    if (c.record !== undefined && this.#byTask.get(c.record.taskId) === allocation)
      this.#byTask.delete(c.record.taskId);
    this.#capacity.release(c.pending.resourceClass);
    return true;
  }

  entries(): OpenClaim[] {
    return [...this.#byAllocation.values()];
  }
}
