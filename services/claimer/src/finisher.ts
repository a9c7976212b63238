// Closes each of this runner's claims once its task has ended (the scheduler's events):
// reports to the Runner API what the pod could not (`runnerMustReport`: everything but an
// orchestrator that exited 0), releases interrupted tasks for an unsafe retry, removes the
// claim from the ledger and frees the slot. Every step is safe to repeat, because a crash
// redelivers the event.
import type { Bus, ConsumerHandle, HandlerResult } from '@longshore/bus';
import { runnerMustReport, Subjects, type TaskEnded, taskReleasedEvent } from '@longshore/contracts';
import { type ClaimLedger, type ClaimRecord, LedgerCorruptError } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import { isRetryable, type RunnerApi, RunnerApiAuthError, RunnerApiError } from '@longshore/runner-api';
import type { ClaimBook } from './claim-book.ts';

export interface FinisherDeps {
  runner: string;
  api: RunnerApi;
  ledger: ClaimLedger;
  bus: Bus;
  /** This runner's open claims: closing one there frees its slot, once. */
  book: ClaimBook;
  /** The claim's task token was registered here when claimed; it is let go once the claim is closed. */
  scrubber: SecretScrubber;
  logger: Logger;
  metrics: { finished: (how: string) => void; ledgerMiss: () => void };
  /** Called when an ended task of ours has no readable ledger record: the ledger may have lost its data. */
  onLedgerMiss?: () => void;
  /**
   * Takes over the claims of a runner that stopped beating (Adopter.adoptFrom); without it,
   * endings of other runners' claims are left to them.
   */
  adoptFrom?: (runner: string) => Promise<boolean>;
  /** How long to wait before looking again at an ending whose claim another live runner holds. Default 5 s. */
  othersDelayMs?: number;
}

export function startFinisher(d: FinisherDeps): Promise<ConsumerHandle> {
  return d.bus.consume([Subjects.taskReported, Subjects.taskFailed, Subjects.taskInterrupted], {
    // Each runner instance closes its own claims, so each has its own durable.
    durable: `claimer-${d.runner.replaceAll(/[^A-Za-z0-9_-]/g, '_')}`,
    concurrency: 8,
    handler: (ev) => finish(d, ev.name === 'task.interrupted', ev.payload),
  });
}

/** The ledger's record of an ended task attempt, if it is readable (whoever holds it). */
async function recordOf(d: FinisherDeps, e: TaskEnded): Promise<ClaimRecord | undefined> {
  try {
    const rec = await d.ledger.get(e.task_id);
    return rec?.attempt === e.attempt ? rec : undefined;
  } catch (err) {
    if (!(err instanceof LedgerCorruptError)) throw err;
    return undefined;
  }
}

/**
 * An ending whose claim another runner holds. That runner closes it from its own durable
 * if it is alive; but if it dies first, nobody would: so the ending is kept (asked for
 * again shortly) until the claim is closed, or taken over here once its runner is dead.
 * A claim that was in this runner's book was taken over from it (it missed its heartbeat):
 * it is the other's to report now, and only the slot is freed here.
 */
async function othersEnding(
  d: FinisherDeps,
  e: TaskEnded,
  rec: ClaimRecord,
  mine: { allocation: string; token: string } | undefined,
): Promise<HandlerResult | 'ours'> {
  if (mine) {
    d.book.close(mine.allocation);
    d.scrubber.delete(mine.token);
    d.logger.warn(
      { task_id: e.task_id, attempt: e.attempt, now_held_by: rec.runner },
      'a claim of this runner was taken over by another while this one missed its heartbeat; freeing its slot',
    );
    return 'ack';
  }
  if (d.adoptFrom === undefined) return 'ack';
  if (await d.ledger.alive(rec.runner)) return { nak: d.othersDelayMs ?? 5_000 };
  return (await d.adoptFrom(rec.runner)) ? 'ours' : { nak: d.othersDelayMs ?? 5_000 };
}

async function finish(d: FinisherDeps, interrupted: boolean, e: TaskEnded): Promise<HandlerResult> {
  const log = d.logger.child({ task_id: e.task_id, attempt: e.attempt });
  let open = d.book.byTask(e.task_id, e.attempt);
  let rec = await recordOf(d, e);
  if (rec !== undefined && rec.runner !== d.runner) {
    const mine = open && { allocation: open.pending.allocation, token: open.pending.token };
    const verdict = await othersEnding(d, e, rec, mine);
    if (verdict !== 'ours') return verdict;
    open = d.book.byTask(e.task_id, e.attempt);
    rec = await recordOf(d, e);
    if (rec?.runner !== d.runner) return { nak: d.othersDelayMs ?? 5_000 };
  }
  let token: string | undefined;
  if (rec === undefined) {
    // Another runner's task, or one closed already (a redelivery): nothing to do. But if
    // this runner holds it, the ledger lost the record: close the claim from memory rather
    // than keep its slot for ever.
    if (open?.record === undefined) return 'ack';
    rec = open.record;
    token = open.pending.token;
    d.metrics.ledgerMiss();
    log.error(
      { reason: e.reason },
      'an ended task of this runner has no ledger record (the ledger lost it?); closing the claim from memory',
    );
    d.onLedgerMiss?.();
  } else {
    token = (await d.ledger.token(e.task_id)) ?? open?.pending.token;
  }
  const message = e.error ?? `task ended: ${e.reason}`;
  // `reported-in-pod`: the orchestrator reported the task's end itself, which may have been a
  // pass, a failure or a give-back: never counted as a success here.
  let how: string = runnerMustReport(e.reason) ? 'failed' : e.reason;
  if (token !== undefined) {
    try {
      if (interrupted && e.to_retry) {
        await d.ledger.recordRetry(e.task_id, e.attempt);
        const outcome = await d.api.unclaim(e.task_id, token);
        if (outcome === 'released') {
          how = 'released';
          const ev = taskReleasedEvent(
            { taskId: e.task_id, resourceClass: e.resource_class, attempt: e.attempt, runner: d.runner },
            { reason: e.reason, retriesUsed: e.attempt },
          );
          await d.bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
        } else if (outcome === 'retries-exhausted') {
          await d.api.fail(token, { allocation: rec.allocation, message: `${message} (retries exhausted)` });
        } else {
          how = 'gone';
        }
      } else if (runnerMustReport(e.reason)) {
        await d.api.fail(token, { allocation: rec.allocation, message });
      }
    } catch (err) {
      // A refused token (401, 403, or 404, which CircleCI's fake Runner API answers for a
      // token it does not know) means the claim is no longer ours to report on; any other
      // refusal (a 4xx) will be the same next time. Either way the claim is closed rather
      // than its report retried for ever; what may go better (no answer, 5xx, 429) is
      // retried by redelivery.
      if (err instanceof RunnerApiAuthError) {
        how = 'gone';
        log.warn({ err: err.message }, 'task token refused while closing the claim; the claim is gone');
      } else if (err instanceof RunnerApiError && !isRetryable(err)) {
        how = 'unreported';
        log.error({ err: err.message }, 'the Runner API refused the report; closing the claim without it');
      } else throw err;
    }
  }
  if (e.reason === 'reported-in-pod') {
    // Its orchestrator may have given the task back (an unclaim, then exit 0): should the API
    // hand it out again, that claim is the next attempt, with pod and event ids of its own,
    // and counts against unsafe retries as the API counts unclaims.
    await d.ledger.recordRetry(e.task_id, e.attempt);
  }
  await d.ledger.finish(e.task_id, e.attempt);
  d.book.close(rec.allocation);
  // Without this, every task token ever claimed stayed in the scrubber, whose pattern (all
  // tokens, recompiled after each new one) grew with every task: 416 MB peak RSS and 12 s of
  // CPU in the claimer over a 1000-task bench run.
  if (token !== undefined) d.scrubber.delete(token);
  d.metrics.finished(how);
  log.info({ outcome: how, reason: e.reason, error: e.error, 'app.to_retry': e.to_retry }, 'claim closed');
  return 'ack';
}
