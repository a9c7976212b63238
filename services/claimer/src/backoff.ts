// How long a claim loop waits before asking again. Pure: the loop sequences the waits.

export interface BackoffPolicy {
  /** After a 204 (no work): the first wait, growing to idleMaxMs while the queue stays empty. */
  idleMinMs: number;
  idleMaxMs: number;
  /** After an error: the first wait, doubling to errorMaxMs. */
  errorMinMs: number;
  errorMaxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  idleMinMs: 1_000,
  idleMaxMs: 5_000,
  errorMinMs: 1_000,
  errorMaxMs: 60_000,
};

/**
 * The wait after `streak` consecutive idle answers or errors (1 = the first). A Retry-After
 * from the API is honoured when it asks for longer. Jitter (0..1, 0 = none) spreads runners
 * so they do not poll in lockstep.
 */
export function nextDelay(
  kind: 'idle' | 'error',
  streak: number,
  policy: BackoffPolicy,
  retryAfterMs?: number,
  jitter = 0,
): number {
  const [min, max] =
    kind === 'idle' ? [policy.idleMinMs, policy.idleMaxMs] : [policy.errorMinMs, policy.errorMaxMs];
  const base = Math.min(max, min * 2 ** Math.max(0, streak - 1));
  const spread = base * (1 - 0.2 * jitter);
  return Math.max(spread, retryAfterMs ?? 0);
}
