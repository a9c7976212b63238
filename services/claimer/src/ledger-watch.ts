// Notices that Redis lost the claim ledger (it came back empty, was flushed, or a replica
// missing the last writes was promoted) and writes back what this runner holds in memory.
// The ledger's generation marker (libs/ledger) changes when that happens; it is read every
// interval (one small script call) and whenever the finisher finds no record for a task
// this runner holds.
//
// What is written back: every filed claim (with its token, attempt and steps done) and
// every pending one. Whether the scheduler created a claim's pod before the loss is not known
// here, so `launched` is written as this runner last knew it (not launched): the scheduler's
// launcher does not create a pod it has seen already (its pod watch remembers them), and a
// claim whose record was missing when the scheduler first took it is taken again once the
// record is back (the launcher waits for young claims' records).
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus } from '@longshore/bus';
import { Subjects } from '@longshore/contracts';
import type { ClaimLedger, LedgerGeneration } from '@longshore/ledger';
import type { Logger } from '@longshore/logging';
import type { ClaimBook } from './claim-book.ts';

export interface LedgerWatchDeps {
  runner: string;
  ledger: ClaimLedger;
  book: ClaimBook;
  bus: Bus;
  logger: Logger;
  intervalMs: number;
  metrics: { rebuilt: () => void };
}

export interface RebuildResult {
  restoredClaims: number;
  restoredPending: number;
  /** Claims this runner had closed that the ledger held again (a finish lost in a failover). */
  closedAgain: number;
  errors: number;
}

export class LedgerWatch {
  readonly #d: LedgerWatchDeps;
  readonly #stop = new AbortController();
  #known: LedgerGeneration | undefined;
  #checking: Promise<RebuildResult | undefined> | undefined;
  #again = false;
  #loop: Promise<void> | undefined;

  constructor(deps: LedgerWatchDeps) {
    this.#d = deps;
  }

  /** Reads the current generation, then checks it every interval until stopped. */
  async start(): Promise<void> {
    this.#known = await this.#d.ledger.generation();
    this.#loop = (async () => {
      while (!this.#stop.signal.aborted) {
        await sleep(this.#d.intervalMs, undefined, { signal: this.#stop.signal }).catch(() => undefined);
        if (!this.#stop.signal.aborted) await this.check();
      }
    })();
  }

  /**
   * Compares the generation with the one last seen; rebuilds when it changed. Calls made
   * while a check runs fold into one more check after it. Never throws: a failed check is
   * logged and the next one tries again.
   */
  check(): Promise<RebuildResult | undefined> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      let result: RebuildResult | undefined;
      do {
        this.#again = false;
        try {
          result = (await this.#checkOnce()) ?? result;
        } catch (err) {
          this.#d.logger.warn({ err: (err as Error).message }, 'could not check the ledger generation');
        }
      } while (this.#again && !this.#stop.signal.aborted);
      return result;
    })().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled([this.#loop, this.#checking]);
  }

  async #checkOnce(): Promise<RebuildResult | undefined> {
    const { ledger } = this.#d;
    const expected = ledger.lastSeq;
    const now = await ledger.generation();
    const before = this.#known;
    this.#known = now;
    if (before === undefined) return undefined;
    // A new generation: Redis came back empty. The same one with fewer claims filed than this
    // runner saw filed: a replica was promoted without the last writes.
    if (before.id === now.id && now.seq >= expected) return undefined;
    ledger.resetSeq();
    return this.#rebuild(now, before.id === now.id ? 'went back in time' : 'started again empty');
  }

  async #rebuild(g: LedgerGeneration, how: string): Promise<RebuildResult> {
    const { ledger, book, runner, logger } = this.#d;
    const open = book.entries();
    logger.error(
      { open_claims: open.length, generation_since: new Date(g.since).toISOString(), ledger: how },
      'the claim ledger lost its data (Redis came back empty, was flushed or failed over): writing back the claims this runner holds',
    );
    const result: RebuildResult = { restoredClaims: 0, restoredPending: 0, closedAgain: 0, errors: 0 };
    for (const c of open) {
      const { pending, record } = c;
      try {
        if (record === undefined) {
          await ledger.begin(runner, pending);
          result.restoredPending++;
        } else {
          await ledger.restore(record, pending.token);
          // Closed while it was being written back: close it again, or it would linger.
          if (book.get(pending.allocation) === undefined) await ledger.finish(record.taskId, record.attempt);
          else result.restoredClaims++;
        }
      } catch (err) {
        result.errors++;
        logger.error(
          { allocation: pending.allocation, task_id: record?.taskId, err: (err as Error).message },
          'could not write a claim back into the ledger',
        );
      }
    }
    // The other way round: claims of this runner that the ledger holds but this runner closed
    // (a failover brings back claims whose finish was lost). Left open they would hold their
    // task in the ledger (and count against it) until their token expired.
    for (const taskId of await ledger.claimsOf(runner)) {
      try {
        const rec = await ledger.get(taskId);
        if (rec === undefined || rec.runner !== runner) continue;
        if (book.byTask(taskId, rec.attempt) !== undefined) continue;
        await ledger.finish(taskId, rec.attempt);
        result.closedAgain++;
      } catch (err) {
        result.errors++;
        logger.error(
          { task_id: taskId, err: (err as Error).message },
          'could not close a claim the ledger brought back',
        );
      }
    }
    this.#d.metrics.rebuilt();
    const at = new Date().toISOString();
    await ledger
      .noteRebuild({ at, runner, ...result })
      .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not note the rebuild'));
    await this.#d.bus
      .publish(
        Subjects.ledgerRebuilt,
        {
          runner,
          at,
          generation_since: new Date(Number.isNaN(g.since) ? Date.now() : g.since).toISOString(),
          restored_claims: result.restoredClaims,
          restored_pending: result.restoredPending,
          errors: result.errors,
        },
        {
          msgId: `ledger.${createHash('sha256').update(`${runner}\n${g.id}`).digest('hex').slice(0, 32)}.rebuilt`,
        },
      )
      .catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'could not publish ledger.rebuilt'),
      );
    logger.error({ ...result }, 'claim ledger rebuilt from memory');
    return result;
  }
}
