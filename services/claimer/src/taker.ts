// Taking a won claim: ledger first, then the task config, then the announcement. Each step
// is recorded before the next, so a crash anywhere is finished at the next start.
//
// Nothing the Runner API answers is trusted: a claim for another class, a task config that
// still does not validate after a few tries, a task id another open claim holds, or a step
// that keeps failing past its budget ends that one claim (`#drop`): the API is told (a fail event, or an unclaim so
// another runner can take it), the ledger entry is closed, the slot is freed, and the drop
// is logged, counted and published as `claim.dropped`. No claim holds a slot without end.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Bus, BusSecretError, BusValidationError } from '@longshore/bus';
import {
  type ClaimDropped,
  type ClaimResponse,
  Subjects,
  type TaskConfig,
  TaskEventError,
  taskClaimedEvent,
} from '@longshore/contracts';
import {
  type ClaimLedger,
  type ClaimRecord,
  LedgerConflictError,
  type PendingClaim,
} from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import {
  isRetryable,
  type RunnerApi,
  RunnerApiAuthError,
  RunnerApiError,
  RunnerApiMalformedResponseError,
  RunnerApiOversizeError,
} from '@longshore/runner-api';
import type { TaskStageRecorder } from '@longshore/runtime';
import { DEFAULT_STEP_BUDGET, type StepBudget, stepDelay, UNREADABLE_STEP_BUDGET } from './backoff.ts';
import type { ClaimBook } from './claim-book.ts';

export interface ClaimTakerDeps {
  runner: string;
  /** Aborts background retries when draining (their claims stay in the ledger for next start). */
  signal: AbortSignal;
  api: RunnerApi;
  ledger: ClaimLedger;
  bus: Bus;
  book: ClaimBook;
  scrubber: SecretScrubber;
  logger: Logger;
  budget?: StepBudget;
  /** Tries for a task config that does not validate (default UNREADABLE_STEP_BUDGET). */
  unreadableBudget?: StepBudget;
  /** Counts a dropped claim, on its class (metric and claim state); `error` names no token. */
  metrics: {
    dropped: (resourceClass: string, stage: Stage, outcome: ClaimDropped['outcome'], error: string) => void;
    /** The claimer's stage (claimed -> config fetched), once per claim filed. */
    stages?: TaskStageRecorder;
  };
}

export type Stage = ClaimDropped['stage'];

/** The Runner API's answer cannot be used for this claim, and asking again will not change it. */
export class ClaimRejectedError extends Error {
  override name = 'ClaimRejectedError';
}

/** What to do after a step failed: see classifyStepFailure. */
export type StepFailure = 'gone' | 'conflict' | 'permanent' | 'unreadable' | 'transient';

/**
 * Whether a failed step is worth repeating. Pure, so each rule is tested directly.
 * - gone: the API refused the task token (401, 403, or 404 as CircleCI's fake answers an
 *   unknown token): the claim no longer exists, there is nobody to tell.
 * - conflict: another open claim holds this task; this one must not touch it, but waits for
 *   it within the budget. The API hands a task out again once it was given back, and the
 *   in-pod orchestrator (circleci/runner-init) gives tasks back itself and then exits 0: the
 *   first claim's end is on its way to the finisher, which closes it (and counts its attempt
 *   as used, so this claim files as the next). Past the budget the first still runs: dropped.
 * - permanent: the answer itself is unusable (a task config over the size cap, a 4xx, a
 *   claim or config for another class) or the event could not be encoded: asking again
 *   gets the same answer.
 * - unreadable: a task config that does not validate (wrong shape, over a limit): a few
 *   more tries (UNREADABLE_STEP_BUDGET), then the task is failed, naming the fields.
 * - transient: no answer, 5xx, 429, a body that is not JSON (a proxy's error page), Redis or
 *   NATS unavailable: worth another try within the budget.
 */
export function classifyStepFailure(err: unknown): StepFailure {
  if (err instanceof RunnerApiAuthError) return 'gone';
  if (err instanceof LedgerConflictError) return 'conflict';
  if (err instanceof ClaimRejectedError) return 'permanent';
  if (err instanceof TaskEventError || err instanceof BusValidationError || err instanceof BusSecretError)
    return 'permanent';
  // A task config over the size limit will be as large next time.
  if (err instanceof RunnerApiOversizeError) return 'permanent';
  if (err instanceof RunnerApiMalformedResponseError)
    return err.issues.length > 0 ? 'unreadable' : 'transient';
  if (err instanceof RunnerApiError) return isRetryable(err) ? 'transient' : 'permanent';
  return 'transient';
}

/** Failures retried within a budget, and which one. */
const RETRIED: Partial<Record<StepFailure, 'budget' | 'unreadableBudget'>> = {
  transient: 'budget',
  conflict: 'budget',
  unreadable: 'unreadableBudget',
};

/** One line for a log, an event and the fail message a CircleCI user reads; never a token. */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ClaimTaker {
  readonly #d: ClaimTakerDeps;
  readonly #budgets: Record<'budget' | 'unreadableBudget', StepBudget>;
  readonly #background = new Set<Promise<void>>();

  constructor(deps: ClaimTakerDeps) {
    this.#d = deps;
    this.#budgets = {
      budget: deps.budget ?? DEFAULT_STEP_BUDGET,
      unreadableBudget: deps.unreadableBudget ?? UNREADABLE_STEP_BUDGET,
    };
  }

  /** A claim the claim loop just won; its slot is already taken. Resolves after the first try. */
  async take(resourceClass: string, claim: ClaimResponse): Promise<void> {
    const { book, ledger, runner, logger, scrubber } = this.#d;
    const pending: PendingClaim = {
      allocation: claim.allocation,
      resourceClass,
      token: claim.task_token,
      claimedAt: new Date().toISOString(),
    };
    if (!book.open(pending, true)) {
      // The API handed out an allocation this runner already holds: the first claim keeps
      // it; this answer is ignored, and the slot taken for it goes back.
      book.releaseSlot(resourceClass);
      logger.error(
        { allocation: claim.allocation, resource_class: resourceClass },
        'the Runner API answered a claim with an allocation this runner already holds; ignoring it',
      );
      this.#d.metrics.dropped(
        resourceClass,
        'claim',
        'unreported',
        'the Runner API answered a claim with an allocation this runner already holds',
      );
      return;
    }
    scrubber.add(claim.task_token);
    if (claim.resource_class !== resourceClass) {
      await this.#drop(
        pending,
        undefined,
        'claim',
        new ClaimRejectedError(
          `the Runner API answered a claim for ${resourceClass} with a task of ${claim.resource_class}`,
        ),
      );
      return;
    }
    try {
      await ledger.begin(runner, pending);
    } catch (err) {
      // Redis is down: the claim cannot be kept, so give it back rather than lose it.
      await this.#drop(pending, undefined, 'claim', new Error(`cannot record the claim: ${describe(err)}`), {
        giveBack: true,
      });
      return;
    }
    await this.#run(pending, 1);
  }

  /** A pending claim found in the ledger at start: it takes a slot and is finished in the background. */
  resumePending(p: PendingClaim): void {
    this.#d.scrubber.add(p.token);
    if (!this.#d.book.open(p, false)) return;
    this.#inBackground(this.#run(p, 1));
  }

  /** A filed claim found in the ledger at start: it takes a slot; announced again if it never was. */
  resumeFiled(rec: ClaimRecord, token: string): void {
    const p: PendingClaim = {
      allocation: rec.allocation,
      resourceClass: rec.resourceClass,
      token,
      claimedAt: rec.claimedAt,
    };
    this.#d.scrubber.add(token);
    if (!this.#d.book.open(p, false)) return;
    this.#d.book.filed(rec);
    if (!rec.announced) this.#inBackground(this.#run(p, 1));
  }

  /** Resolves when no background retry is running. */
  async settled(): Promise<void> {
    // A retry schedules the next one before it ends: wait until none is left.
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  #inBackground(run: Promise<void>): void {
    this.#background.add(run);
    void run.finally(() => this.#background.delete(run));
  }

  /**
   * Tries the steps left for a claim; a transient failure is retried in the background within
   * the budget, anything else ends the claim. The first try runs in the caller's time, so the
   * claim loop does not claim more while the API or Redis is failing.
   */
  async #run(p: PendingClaim, tries: number): Promise<void> {
    const { book, logger } = this.#d;
    let stage: Stage = 'config';
    try {
      let record = book.get(p.allocation)?.record;
      if (record === undefined) {
        stage = 'config';
        const task = await this.#d.api.taskConfig(p.token);
        const fetchedAt = Date.now();
        checkTask(task, p);
        stage = 'commit';
        record = await this.#d.ledger.commit(this.#d.runner, p, task, {
          configFetchedAt: new Date(fetchedAt).toISOString(),
        });
        book.filed(record);
        this.#d.metrics.stages?.observe('config_fetched', p.resourceClass, p.claimedAt, fetchedAt);
      }
      stage = 'announce';
      await this.#announce(record);
    } catch (err) {
      const kind = classifyStepFailure(err);
      const budget = RETRIED[kind];
      const delay = budget === undefined ? undefined : stepDelay(tries, this.#budgets[budget]);
      if (delay === undefined || this.#d.signal.aborted) {
        if (this.#d.signal.aborted && budget !== undefined) return; // kept in the ledger for next start
        await this.#drop(p, book.get(p.allocation)?.record, stage, err, { kind, tries });
        return;
      }
      logger.warn(
        { allocation: p.allocation, resource_class: p.resourceClass, stage, err: describe(err), try: tries },
        'a step of a new claim failed; retrying',
      );
      this.#inBackground(
        sleep(delay, undefined, { signal: this.#d.signal })
          .catch(() => undefined)
          .then(() => (this.#d.signal.aborted ? undefined : this.#run(p, tries + 1))),
      );
    }
  }

  async #announce(r: ClaimRecord): Promise<void> {
    const ev = taskClaimedEvent({ ...r, at: r.claimedAt }, r);
    await this.#d.bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
    await this.#d.ledger.mark(r.taskId, r.attempt, 'announced');
    r.announced = true;
    this.#d.logger.info(
      { task_id: r.taskId, attempt: r.attempt, resource_class: r.resourceClass },
      'task claimed',
    );
  }

  /**
   * Ends a claim that cannot go on: tells the API what it can be told, closes the ledger
   * entry, frees the slot and the token, and says so (log, counter, `claim.dropped`).
   */
  async #drop(
    p: PendingClaim,
    record: ClaimRecord | undefined,
    stage: Stage,
    err: unknown,
    how: { kind?: StepFailure; tries?: number; giveBack?: boolean } = {},
  ): Promise<void> {
    const { api, ledger, runner, logger } = this.#d;
    const kind = how.kind ?? classifyStepFailure(err);
    const error =
      how.tries !== undefined && RETRIED[kind] !== undefined
        ? `${describe(err)} (gave up after ${how.tries} tries)`
        : describe(err);
    let outcome: ClaimDropped['outcome'] = 'unreported';
    if (kind === 'gone') outcome = 'gone';
    else if (kind !== 'conflict') {
      // Give it back where another runner may do better (the answer was fine, our side or the
      // network failed): that needs the task id, from the record or one more config fetch.
      // Fail it where nobody can (the answer itself is unusable: a config that never validates
      // would only come back to us), or when it cannot be given back.
      const giveBack = how.giveBack === true || kind === 'transient';
      try {
        const taskId = giveBack
          ? (record?.taskId ??
            (await api.taskConfig(p.token).then(
              (t) => t.task_id,
              () => undefined,
            )))
          : undefined;
        const u = taskId === undefined ? undefined : await api.unclaim(taskId, p.token);
        if (u === undefined || u === 'retries-exhausted') {
          await api.fail(p.token, { allocation: p.allocation, message: failMessage(error) });
          outcome = 'failed';
        } else outcome = u;
      } catch (reportErr) {
        if (reportErr instanceof RunnerApiAuthError) outcome = 'gone';
        else
          logger.error(
            { allocation: p.allocation, err: describe(reportErr) },
            'could not tell the Runner API that the claim was dropped; its own claim timeout must end it',
          );
      }
    }
    try {
      if (record === undefined) await ledger.abandon(runner, p.allocation);
      else await ledger.finish(record.taskId, record.attempt);
    } catch (ledgerErr) {
      // Left in Redis, the entry is finished at the next start or swept by the GC's reconciliation.
      logger.warn({ allocation: p.allocation, err: describe(ledgerErr) }, 'could not close the ledger entry');
    }
    this.#d.book.close(p.allocation);
    this.#d.scrubber.delete(p.token);
    this.#d.metrics.dropped(p.resourceClass, stage, outcome, error);
    const event: ClaimDropped = {
      runner,
      resource_class: p.resourceClass,
      allocation: p.allocation,
      ...(record ? { task_id: record.taskId } : {}),
      at: new Date().toISOString(),
      stage,
      outcome,
      error,
    };
    logger.error(
      {
        allocation: p.allocation,
        resource_class: p.resourceClass,
        task_id: record?.taskId,
        stage,
        outcome,
        error,
      },
      'claim dropped',
    );
    await this.#d.bus
      .publish(Subjects.claimDropped, event, { msgId: droppedMsgId(p.allocation) })
      .catch((pubErr: unknown) =>
        logger.warn({ allocation: p.allocation, err: describe(pubErr) }, 'could not publish claim.dropped'),
      );
  }
}

/** A config the API answered for this claim must be for this claim's class. */
function checkTask(task: TaskConfig, p: PendingClaim): void {
  if (task.resource_class !== p.resourceClass) {
    throw new ClaimRejectedError(
      `the task config is for resource class ${task.resource_class}, but the claim was for ${p.resourceClass}`,
    );
  }
}

/** What a CircleCI user reads on the job when Longshore could not run it. */
function failMessage(error: string): string {
  return `Longshore could not run this task: ${error}`;
}

function droppedMsgId(allocation: string): string {
  return `claim.${createHash('sha256').update(allocation).digest('hex').slice(0, 32)}.dropped`;
}
