// One claim loop per resource class: ask the Runner API for a task while this runner has
// room and the class is enabled; on a task, keep it in the ledger first, then fetch its
// config, file it, and announce it on the bus. Stops asking the moment draining begins.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@longshore/logging';
import {
  type RunnerApi,
  RunnerApiAuthError,
  RunnerApiError,
  type RunnerIdentity,
} from '@longshore/runner-api';
import { type BackoffPolicy, nextDelay } from './backoff.ts';
import type { Capacity } from './capacity.ts';
import type { ClaimTaker } from './taker.ts';

export interface ClaimLoopDeps {
  resourceClass: string;
  token: string;
  api: RunnerApi;
  identity: RunnerIdentity;
  capacity: Capacity;
  taker: ClaimTaker;
  isEnabled: (resourceClass: string) => boolean;
  policy: BackoffPolicy;
  logger: Logger;
  metrics: { claim: (outcome: string) => void };
  /** Aborts when draining begins. */
  signal: AbortSignal;
}

const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

export async function runClaimLoop(d: ClaimLoopDeps): Promise<void> {
  const rc = d.resourceClass;
  let idle = 0;
  let errors = 0;
  while (!d.signal.aborted) {
    if (!d.isEnabled(rc)) {
      // The constraint checker says pods of this class cannot be scheduled: do not claim.
      d.metrics.claim('disabled');
      await pause(d.policy.idleMaxMs, d.signal);
      continue;
    }
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
      errors++;
      const auth = err instanceof RunnerApiAuthError;
      d.metrics.claim(auth ? 'auth-error' : 'error');
      d.logger.warn(
        { resource_class: rc, err: err instanceof Error ? err.message : String(err), streak: errors },
        auth ? 'the Runner API refused this resource class token' : 'claim failed; backing off',
      );
      const retryAfter = err instanceof RunnerApiError ? err.retryAfterMs : undefined;
      await pause(nextDelay('error', errors, d.policy, retryAfter, Math.random()), d.signal);
      continue;
    }
    errors = 0;
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
