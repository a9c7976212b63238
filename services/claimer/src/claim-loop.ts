// One claim loop per resource class: ask the Runner API for a task while this runner has
// room and the class is enabled; on a task, keep it in the ledger first, then fetch its
// config, file it, and announce it on the bus. Stops asking the moment draining begins.
//
// A refused token (401, 403, or 404 on claim) puts the class in "token refused" (shown by
// `longshore status`) and waits minutes between tries, without touching other classes;
// the first answer that takes the token ends it. A claim answer that cannot be read is a
// claim dropped at stage `claim`: if it handed out a task, nobody can tell the API so.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClaimDropped } from '@longshore/contracts';
import type { Logger } from '@longshore/logging';
import {
  type RunnerApi,
  RunnerApiAuthError,
  RunnerApiError,
  RunnerApiMalformedResponseError,
  type RunnerIdentity,
} from '@longshore/runner-api';
import { type BackoffPolicy, nextDelay } from './backoff.ts';
import type { Capacity } from './capacity.ts';
import type { ClaimLoopEvent } from './claim-state.ts';
import type { ClaimTaker } from './taker.ts';

/** What a claim try came to (longshore_claimer_claims_total's outcome). */
export const CLAIM_TRY_OUTCOMES = ['claimed', 'no-work', 'error', 'token-refused', 'disabled'] as const;
export type ClaimTryOutcome = (typeof CLAIM_TRY_OUTCOMES)[number];

export interface ClaimLoopDeps {
  resourceClass: string;
  token: string;
  api: RunnerApi;
  identity: RunnerIdentity;
  capacity: Capacity;
  taker: ClaimTaker;
  /** Why the class must not claim now (the constraint checker, the pod check), or undefined. */
  whyDisabled: (resourceClass: string) => string | undefined;
  /** Resolves when a class's gates may have changed, or after `ms` (or when `signal` aborts). */
  gateChanged: (ms: number, signal: AbortSignal) => Promise<void>;
  policy: BackoffPolicy;
  logger: Logger;
  metrics: {
    claim: (outcome: ClaimTryOutcome) => void;
    dropped: (stage: 'claim', outcome: ClaimDropped['outcome'], error: string) => void;
  };
  /** What the loop is doing, for the class's claim state (claim-state.ts). */
  report: (e: ClaimLoopEvent) => void;
  /** Aborts when draining begins. */
  signal: AbortSignal;
}

const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

export async function runClaimLoop(d: ClaimLoopDeps): Promise<void> {
  const rc = d.resourceClass;
  let idle = 0;
  let errors = 0;
  let refused = 0;
  while (!d.signal.aborted) {
    const why = d.whyDisabled(rc);
    if (why !== undefined) {
      // Pods of this class cannot be scheduled, or Kubernetes refused its pod: do not claim.
      d.metrics.claim('disabled');
      d.report({ kind: 'disabled', reason: why });
      await d.gateChanged(d.policy.idleMaxMs, d.signal);
      continue;
    }
    d.report({ kind: 'enabled' });
    if (!d.capacity.tryAcquire(rc)) {
      await d.capacity.changed(d.signal);
      continue;
    }
    // Not aborted by draining: a claim in flight is answered, and a task it wins is ours.
    let outcome: Awaited<ReturnType<RunnerApi['claim']>>;
    try {
      outcome = await d.api.claim(d.token, d.identity);
    } catch (err) {
      d.capacity.release(rc);
      const error = err instanceof Error ? err.message : String(err);
      const retryAfter = err instanceof RunnerApiError ? err.retryAfterMs : undefined;
      if (err instanceof RunnerApiAuthError) {
        refused++;
        errors = 0;
        d.metrics.claim('token-refused');
        d.report({ kind: 'refused', error });
        const wait = nextDelay('refused', refused, d.policy, retryAfter, Math.random());
        const what = { resource_class: rc, err: error, streak: refused, next_try_ms: Math.round(wait) };
        const msg =
          'the Runner API refused the token of this resource class; no claims for it until a try is accepted';
        // Loud once, then a line per try: the class stays off until a person acts.
        if (refused === 1) d.logger.error(what, msg);
        else d.logger.warn(what, msg);
        await pause(wait, d.signal);
        continue;
      }
      errors++;
      d.metrics.claim('error');
      d.report({ kind: 'failed', error });
      if (err instanceof RunnerApiMalformedResponseError) {
        // The API may have handed out a task in the answer we cannot read; its token is
        // lost with it, so only the API's own claim timeout can end it.
        d.metrics.dropped('claim', 'unreported', error);
        d.report({ kind: 'dropped', stage: 'claim', outcome: 'unreported', error });
      }
      d.logger.warn({ resource_class: rc, err: error, streak: errors }, 'claim failed; backing off');
      await pause(nextDelay('error', errors, d.policy, retryAfter, Math.random()), d.signal);
      continue;
    }
    if (refused > 0)
      d.logger.info(
        { resource_class: rc, refused_tries: refused },
        'the Runner API takes this class’s token again',
      );
    errors = 0;
    refused = 0;
    d.report({ kind: 'answered' });
    if (outcome.kind === 'no-work') {
      d.capacity.release(rc);
      d.metrics.claim('no-work');
      idle++;
      await pause(nextDelay('idle', idle, d.policy, outcome.retryAfterMs, Math.random()), d.signal);
      continue;
    }
    idle = 0;
    d.metrics.claim('claimed');
    // The slot stays taken until the task ends (the finisher gives it back).
    await d.taker.take(rc, outcome.claim);
  }
}
