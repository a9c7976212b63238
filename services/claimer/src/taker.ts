// Taking a won claim: ledger first, then the task config, then the announcement. Each step
// is recorded before the next, so a crash anywhere is finished by `resume` at the next start.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus } from '@longshore/bus';
import { type ClaimResponse, Subjects, taskMsgId } from '@longshore/contracts';
import type { ClaimLedger, ClaimRecord, PendingClaim } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import { type RunnerApi, RunnerApiAuthError } from '@longshore/runner-api';
import type { Capacity } from './capacity.ts';

export interface ClaimTakerDeps {
  runner: string;
  /** Aborts background retries when draining (their claims stay pending for next start). */
  signal: AbortSignal;
  api: RunnerApi;
  ledger: ClaimLedger;
  bus: Bus;
  capacity: Capacity;
  scrubber: SecretScrubber;
  logger: Logger;
}

export class ClaimTaker {
  readonly #d: ClaimTakerDeps;
  readonly #background = new Set<Promise<void>>();

  constructor(deps: ClaimTakerDeps) {
    this.#d = deps;
  }

  async take(resourceClass: string, claim: ClaimResponse): Promise<void> {
    const pending: PendingClaim = {
      allocation: claim.allocation,
      resourceClass,
      token: claim.task_token,
      claimedAt: new Date().toISOString(),
    };
    this.#d.scrubber.add(claim.task_token);
    try {
      await this.#d.ledger.begin(this.#d.runner, pending);
    } catch (err) {
      // Redis is down: the claim cannot be kept, so give it back rather than lose it.
      this.#d.logger.error(
        { err: (err as Error).message, resource_class: resourceClass },
        'cannot record claim',
      );
      await this.#giveBack(resourceClass, claim);
      return;
    }
    try {
      await this.finishPending(pending);
    } catch {
      this.finishLater(pending);
    }
  }

  /** Keeps trying to finish a kept claim after a transient failure, with backoff. */
  finishLater(p: PendingClaim): void {
    const run = (async () => {
      for (let attempt = 1; !this.#d.signal.aborted; attempt++) {
        try {
          await this.finishPending(p);
          return;
        } catch {
          await sleep(Math.min(30_000, 500 * 2 ** attempt), undefined, { signal: this.#d.signal }).catch(
            () => {},
          );
        }
      }
    })();
    this.#background.add(run);
    void run.finally(() => this.#background.delete(run));
  }

  /** Resolves when no background retry is running. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#background]);
  }

  /** Fetches the config of a kept claim, files it and announces it. Safe to repeat. */
  async finishPending(p: PendingClaim): Promise<void> {
    const { api, ledger, runner, logger } = this.#d;
    let record: ClaimRecord;
    try {
      const task = await api.taskConfig(p.token);
      record = await ledger.commit(runner, p.allocation, task);
    } catch (err) {
      if (err instanceof RunnerApiAuthError) {
        // The token no longer names a claim (cancelled or timed out): nothing to run.
        logger.warn(
          { allocation: p.allocation, resource_class: p.resourceClass },
          'claim is gone; dropping it',
        );
        await ledger.abandon(runner, p.allocation);
        this.#d.capacity.release(p.resourceClass);
        this.#d.scrubber.delete(p.token);
        return;
      }
      logger.warn(
        { err: (err as Error).message, allocation: p.allocation },
        'could not fetch task config; will retry',
      );
      throw err;
    }
    await this.announce(record);
  }

  async announce(r: ClaimRecord): Promise<void> {
    await this.#d.bus.publish(
      Subjects.taskClaimed,
      {
        task_id: r.taskId,
        resource_class: r.resourceClass,
        attempt: r.attempt,
        runner: r.runner,
        at: r.claimedAt,
        allocation: r.allocation,
      },
      { msgId: taskMsgId(r.taskId, r.attempt, 'claimed') },
    );
    await this.#d.ledger.mark(r.taskId, r.attempt, 'announced');
    this.#d.logger.info(
      { task_id: r.taskId, attempt: r.attempt, resource_class: r.resourceClass },
      'task claimed',
    );
  }

  async #giveBack(resourceClass: string, claim: ClaimResponse): Promise<void> {
    try {
      const task = await this.#d.api.taskConfig(claim.task_token);
      await this.#d.api.unclaim(task.task_id, claim.task_token);
    } catch (err) {
      this.#d.logger.error({ err: (err as Error).message }, 'could not give the claim back either');
    } finally {
      this.#d.capacity.release(resourceClass);
      this.#d.scrubber.delete(claim.task_token);
    }
  }
}
