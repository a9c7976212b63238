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

/**
 * How often a step of taking a claim (fetching its config, filing it, announcing it) is tried
 * before the claim is given up, and the waits in between. Six tries over about 15 s: long
 * enough for a Redis or NATS restart or a short API blip, short enough that a claim that
 * cannot be taken does not hold its slot (or the task) for long.
 */
export interface StepBudget {
  tries: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_STEP_BUDGET: StepBudget = { tries: 6, firstDelayMs: 500, maxDelayMs: 8_000 };

/** The wait after the `failed`-th failed try (1 = the first), or undefined once the budget is spent. */
export function stepDelay(failed: number, budget: StepBudget): number | undefined {
  if (failed >= budget.tries) return undefined;
  return Math.min(budget.maxDelayMs, budget.firstDelayMs * 2 ** Math.max(0, failed - 1));
}
