// The port through which the container runner talks to its task provider: CircleCI's
// Runner API today (HttpRunnerApi), possibly another provider later. Outcomes a runner
// must act on (no work, task cancelled, retries exhausted) are return values; anything
// else is a RunnerApiError (see errors.ts and isRetryable).
import type { ClaimResponse, TaskConfig } from '@longshore/contracts';

/** How this runner instance introduces itself when claiming. */
export interface RunnerIdentity {
  /** Runner name (agent.name). */
  name: string;
  hostname: string;
  ip: string;
  /** Runner version. */
  version: string;
}

export type ClaimOutcome =
  | { kind: 'task'; claim: ClaimResponse }
  /** Nothing queued for the class; `retryAfterMs` when the API said when to ask again. */
  | { kind: 'no-work'; retryAfterMs?: number };

/**
 * What unclaiming did: `released` (queued again for any runner), `gone` (404: the claim no
 * longer exists, because the task was cancelled or the API does not know the token; drop
 * it), `retries-exhausted` (409: post a fail event instead).
 */
export type UnclaimOutcome = 'released' | 'gone' | 'retries-exhausted';

export interface FailReport {
  allocation: string;
  /** Plain text; sent base64-encoded as the API expects. */
  message: string;
  /** When the task failed. Default: now. */
  at?: Date;
}

export interface CallOptions {
  /** Aborts the call (e.g. on shutdown); the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface RunnerApi {
  /** Asks for one task of the resource class the token belongs to. */
  claim(resourceClassToken: string, runner: RunnerIdentity, opts?: CallOptions): Promise<ClaimOutcome>;
  /** The claimed task's configuration (containers, command, environment). */
  taskConfig(taskToken: string, opts?: CallOptions): Promise<TaskConfig>;
  /** Gives a claimed task back so it can be claimed again (an unsafe retry). */
  unclaim(taskId: string, taskToken: string, opts?: CallOptions): Promise<UnclaimOutcome>;
  /** Reports that the task failed for a reason its task agent could not report. */
  fail(taskToken: string, report: FailReport, opts?: CallOptions): Promise<void>;
}
