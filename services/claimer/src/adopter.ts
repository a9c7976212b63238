// Claims outlive the claimer that took them. Every claimer says it is alive (a heartbeat in
// the ledger) and, every interval, takes over the claims of runners that stopped saying so:
// a replica killed for good, or a pod replaced under a new name. Taking over is one ledger
// script (two claimers at once: one gets the claims); the claims then go through the same
// steps as a claimer's own at start (ClaimTaker.resumeFiled / resumePending): announced if
// they never were, holding a slot until they end. Endings of such claims are not lost: the
// finisher of every claimer keeps an ending whose claim belongs to a runner that is still
// alive (it may be about to close it) and, once that runner is dead, takes it over here.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClaimLedger } from '@longshore/ledger';
import { LedgerCorruptError } from '@longshore/ledger';
import type { Logger } from '@longshore/logging';
import type { ClaimTaker } from './taker.ts';

/** A runner that has not beaten for this long is taken for dead. */
export const DEFAULT_HEARTBEAT_TTL_MS = 30_000;

export interface AdopterDeps {
  runner: string;
  ledger: ClaimLedger;
  taker: ClaimTaker;
  logger: Logger;
  /** Heartbeat lifetime; the claimer beats (and sweeps) every third of it. */
  heartbeatTtlMs?: number;
  metrics: { adopted: (claims: number) => void };
}

export class Adopter {
  readonly #d: AdopterDeps;
  readonly #ttl: number;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** One takeover at a time per runner, shared by the sweep and the finisher. */
  readonly #adopting = new Map<string, Promise<boolean>>();

  constructor(deps: AdopterDeps) {
    this.#d = deps;
    this.#ttl = deps.heartbeatTtlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
  }

  /** Beats once, then beats and sweeps every third of the heartbeat's lifetime until stopped. */
  async start(): Promise<void> {
    await this.#d.ledger.heartbeat(this.#d.runner, this.#ttl);
    this.#loop = (async () => {
      while (!this.#stop.signal.aborted) {
        await sleep(this.#ttl / 3, undefined, { signal: this.#stop.signal }).catch(() => undefined);
        if (this.#stop.signal.aborted) break;
        try {
          await this.#d.ledger.heartbeat(this.#d.runner, this.#ttl);
          await this.sweep();
        } catch (err) {
          this.#d.logger.warn({ err: (err as Error).message }, 'heartbeat or takeover sweep failed');
        }
      }
    })();
  }

  /** Stops beating: once the heartbeat has expired, other claimers take over what is left. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** Takes over the claims of every runner without a heartbeat. */
  async sweep(): Promise<void> {
    for (const other of await this.#d.ledger.runners()) {
      if (other !== this.#d.runner) await this.adoptFrom(other);
    }
  }

  /** Takes over `from`'s claims if it is dead; true when this runner now holds some of them. */
  adoptFrom(from: string): Promise<boolean> {
    const running = this.#adopting.get(from);
    if (running) return running;
    const run = this.#adopt(from).finally(() => this.#adopting.delete(from));
    this.#adopting.set(from, run);
    return run;
  }

  async #adopt(from: string): Promise<boolean> {
    const { ledger, runner, taker, logger } = this.#d;
    const adopted = await ledger.adopt(from, runner);
    if (adopted === undefined) return false;
    let claims = 0;
    for (const taskId of adopted.taskIds) {
      try {
        const rec = await ledger.get(taskId);
        const token = rec && (await ledger.token(taskId));
        if (rec === undefined || rec.runner !== runner || token === undefined) continue;
        taker.resumeFiled(rec, token);
        claims++;
      } catch (err) {
        if (!(err instanceof LedgerCorruptError)) throw err;
        await ledger.forget(taskId, runner);
        logger.error(
          { task_id: taskId, err: err.message },
          'unreadable claim record removed while taking over',
        );
      }
    }
    const wanted = new Set(adopted.allocations);
    for (const p of await ledger.pending(runner)) {
      if (!wanted.has(p.allocation)) continue;
      taker.resumePending(p);
      claims++;
    }
    this.#d.metrics.adopted(claims);
    logger.warn(
      { from, claims, pending: adopted.allocations.length },
      'took over the claims of a runner that stopped beating',
    );
    return true;
  }
}
