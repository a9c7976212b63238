// How long a claim loop waits before asking again. Pure: the loop sequences the waits.

export interface BackoffPolicy {
  /**
   * After a 204 (no work): the first wait, growing to idleMaxMs while the queue stays empty.
   * After a claim the loop asks again at once: a busy queue is drained without waits.
   */
  idleMinMs: number;
  idleMaxMs: number;
  /** After an error: the first wait, doubling to errorMaxMs. */
  errorMinMs: number;
  errorMaxMs: number;
  /** After the API refused the class's token: the first wait, doubling to refusedMaxMs. */
  refusedMinMs: number;
  refusedMaxMs: number;
}

/**
 * Idle: 100 ms after the first empty answer, doubling to 1 s while the queue stays empty.
 * A task queued during a burst is claimed within a few hundred ms (the user's wait, queued
 * -> claimed, was 450 ms at p50 with a first wait of 1 s); an idle class costs at most one
 * claim request a second (60 a minute: CircleCI's machine runner backs off 5 s on no work,
 * agent-stack-k8s polls every second), and a task queued then waits at most that second.
 * The config's agent.idleWait (first, max) sets the idle bounds, with these as its defaults;
 * main.ts passes them in.
 *
 * A refused token is a configuration problem that only a person fixes: asking again soon
 * only adds load on the API (CircleCI's, shared by every runner of the class). So its
 * waits grow to minutes; the first one is short so that a token registered moments late
 * is taken up soon. A changed token in the config restarts the claimer anyway.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  idleMinMs: 100,
  idleMaxMs: 1_000,
  errorMinMs: 1_000,
  errorMaxMs: 60_000,
  refusedMinMs: 15_000,
  refusedMaxMs: 5 * 60_000,
};

/**
 * The wait after `streak` consecutive idle answers, errors or refusals (1 = the first). A Retry-After
 * from the API is honoured when it asks for longer. Jitter (0..1, 0 = none) spreads runners
 * so they do not poll in lockstep; it shortens a wait by at most a fifth while the waits
 * grow, never once they are at the cap: a jittered cap would ask more often than the cap says
 * (an idle class at 1 s with jitter would average 0.9 s, 67 requests a minute). Runners that
 * reach the cap at different moments stay apart.
 */
export function nextDelay(
  kind: 'idle' | 'error' | 'refused',
  streak: number,
  policy: BackoffPolicy,
  retryAfterMs?: number,
  jitter = 0,
): number {
  const bounds: Record<typeof kind, [number, number]> = {
    idle: [policy.idleMinMs, policy.idleMaxMs],
    error: [policy.errorMinMs, policy.errorMaxMs],
    refused: [policy.refusedMinMs, policy.refusedMaxMs],
  };
  const [min, max] = bounds[kind];
  const base = Math.min(max, min * 2 ** Math.max(0, streak - 1));
  const spread = base >= max ? max : base * (1 - 0.2 * jitter);
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

/**
 * The budget for fetching a task config that does not validate: three tries over about
 * 3 s. An answer of the wrong shape is most likely a real change of shape (the task would
 * only come back if given back, so it is failed), but an API in the middle of a deploy, or
 * a proxy serving a stale or cut document, may answer well a moment later.
 */
export const UNREADABLE_STEP_BUDGET: StepBudget = { tries: 3, firstDelayMs: 1_000, maxDelayMs: 2_000 };

/** The wait after the `failed`-th failed try (1 = the first), or undefined once the budget is spent. */
export function stepDelay(failed: number, budget: StepBudget): number | undefined {
  if (failed >= budget.tries) return undefined;
  return Math.min(budget.maxDelayMs, budget.firstDelayMs * 2 ** Math.max(0, failed - 1));
}
