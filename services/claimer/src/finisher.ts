// Closes each of this runner's claims once its task has ended (the scheduler's events):
// reports to the Runner API what the pod could not (`runnerMustReport`: everything but an
// orchestrator that exited 0), releases interrupted tasks for an unsafe retry, removes the
// claim from the ledger and frees the slot. Every step is safe to repeat, because a crash
// redelivers the event.
import type { Bus, ConsumerHandle, HandlerResult } from '@longshore/bus';
import { runnerMustReport, Subjects, type TaskEnded, taskMsgId } from '@longshore/contracts';
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
}

export function startFinisher(d: FinisherDeps): Promise<ConsumerHandle> {
  return d.bus.consume([Subjects.taskReported, Subjects.taskFailed, Subjects.taskInterrupted], {
    // Each runner instance closes its own claims, so each has its own durable.
    durable: `claimer-${d.runner.replaceAll(/[^A-Za-z0-9_-]/g, '_')}`,
    concurrency: 8,
    handler: (ev) => finish(d, ev.name === 'task.interrupted', ev.payload),
  });
}

/** The ledger's record of an ended task, if it is readable and of this runner and attempt. */
async function recordOf(d: FinisherDeps, e: TaskEnded): Promise<ClaimRecord | undefined> {
  try {
    const rec = await d.ledger.get(e.task_id);
    return rec?.attempt === e.attempt && rec.runner === d.runner ? rec : undefined;
  } catch (err) {
    if (!(err instanceof LedgerCorruptError)) throw err;
    return undefined;
  }
}

async function finish(d: FinisherDeps, interrupted: boolean, e: TaskEnded): Promise<HandlerResult> {
  const log = d.logger.child({ task_id: e.task_id, attempt: e.attempt });
  const open = d.book.byTask(e.task_id, e.attempt);
  let rec = await recordOf(d, e);
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
          await d.bus.publish(
            Subjects.taskReleased,
            {
              task_id: e.task_id,
              resource_class: e.resource_class,
              attempt: e.attempt,
              runner: d.runner,
              at: new Date().toISOString(),
              reason: e.reason,
              retries_used: e.attempt,
            },
            { msgId: taskMsgId(e.task_id, e.attempt, 'released') },
          );
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
