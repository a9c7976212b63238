// What each claimer says about each resource class it claims for, so that `longshore
// status` can show it: claiming, or not because the Runner API refused the class's token
// (or the constraint checker turned the class off), and the claims it had to drop, by
// stage, with the last one's reason. A NATS KV bucket holds one key per runner and class;
// each claimer writes its own keys when they change and again every CLAIM_STATE_REFRESH_MS,
// and the bucket forgets a key not written for CLAIM_STATE_TTL_MS (a claimer that died).
// Values never hold a token: reasons are the Runner API client's error messages, which
// name the call and the status only.
import { z } from 'zod';
import { ClaimDropped } from './events.ts';

/** NATS KV bucket (under the bus prefix) holding the latest ClaimState per runner and class. */
export const CLAIM_STATE_KV_BUCKET = 'claim-state';
/** How often a claimer writes its states again even when nothing changed. */
export const CLAIM_STATE_REFRESH_MS = 60_000;
/**
 * Age after which the bucket forgets a state (the bucket's max age): five missed refreshes,
 * so only a claimer that stopped without removing its keys (killed, lost) drops out.
 */
export const CLAIM_STATE_TTL_MS = 5 * CLAIM_STATE_REFRESH_MS;

/** Longest `reason` or drop `error` kept; a hostile server message cannot make a value huge. */
export const MAX_CLAIM_STATE_TEXT = 1_000;

const iso = z.iso.datetime();
const text = z.string().max(MAX_CLAIM_STATE_TEXT);

/**
 * - claiming: the class's claim loop asks the Runner API for work (it may be failing for
 *   other reasons: see `last_error`).
 * - token-refused: the Runner API refused the class's token at claim (401, 403 or 404); the
 *   loop asks again after a long backoff and leaves this state at the first answer that
 *   takes the token (a task or no work).
 * - disabled: the constraint checker says pods of this class cannot be scheduled.
 * - draining: the claimer is stopping (SIGTERM): it claims no more and waits for its tasks
 *   to end; its keys go when it has stopped.
 */
export const ClaimLoopState = z.enum(['claiming', 'token-refused', 'disabled', 'draining']);
export type ClaimLoopState = z.infer<typeof ClaimLoopState>;

export const ClaimStage = ClaimDropped.shape.stage;
export type ClaimStage = z.infer<typeof ClaimStage>;

export const ClaimState = z.object({
  runner: z.string().min(1),
  resource_class: z.string().min(1),
  /** When this value was written. */
  at: iso,
  state: ClaimLoopState,
  /** When the class entered `state` (on this runner). */
  since: iso,
  /** Why the class is in `state`, in words a person can act on; empty when claiming. */
  reason: text,
  /** The last failed claim call (any kind), if the last call failed; null once one works. */
  last_error: z.object({ at: iso, error: text }).nullable(),
  /** Claims this runner dropped for the class since it started, by stage. */
  dropped: z.partialRecord(ClaimStage, z.number().int().nonnegative()),
  last_drop: z
    .object({
      at: iso,
      stage: ClaimStage,
      outcome: ClaimDropped.shape.outcome,
      error: text,
    })
    .nullable(),
});
export type ClaimState = z.infer<typeof ClaimState>;

/**
 * A runner's key for a class: the runner name (characters a KV key cannot hold, and dots,
 * made `_`) and the class name with '/' made '.'. The runner part has no dot, so keys of
 * different runners and classes cannot collide.
 */
export function claimStateKey(runner: string, resourceClass: string): string {
  return `${runner.replaceAll(/[^A-Za-z0-9_-]/g, '_')}.${resourceClass.replaceAll('/', '.')}`;
}

/** A text cut to MAX_CLAIM_STATE_TEXT characters, for `reason` and drop errors. */
export function claimStateText(s: string): string {
  return s.length <= MAX_CLAIM_STATE_TEXT ? s : `${s.slice(0, MAX_CLAIM_STATE_TEXT - 1)}…`;
}
