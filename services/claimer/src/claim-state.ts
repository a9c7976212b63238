// Per class, what this claimer's claim loop is doing (claiming, token refused, disabled,
// draining)
// and which claims it had to drop, kept for `longshore status` in the claim-state KV bucket
// (libs/contracts/src/claim-state.ts). nextClaimState decides (pure); ClaimStateBoard writes
// a class's state whenever it changes and all of them every CLAIM_STATE_REFRESH_MS (the
// bucket forgets what is not rewritten), and removes them when the claimer stops.
import type { BusKv } from '@longshore/bus';
import {
  CLAIM_STATE_REFRESH_MS,
  type ClaimDropped,
  type ClaimStage,
  type ClaimState,
  claimStateKey,
  claimStateText,
} from '@longshore/contracts';
import type { Logger } from '@longshore/logging';
import { every, type Periodic } from '@longshore/runtime';

/** What the claim loop and the taker tell the board about a class. */
export type ClaimLoopEvent =
  /** The API answered a claim (a task or no work): it took the token. */
  | { kind: 'answered' }
  /** A claim call failed for another reason than a refused token. */
  | { kind: 'failed'; error: string }
  /** The API refused the class's token (401, 403 or 404 on claim). */
  | { kind: 'refused'; error: string }
  /** Claiming is off for the class; `reason` says who turned it off and why. */
  | { kind: 'disabled'; reason: string }
  | { kind: 'enabled' }
  /** The claimer began to drain: no more claims, for good. */
  | { kind: 'draining' }
  | { kind: 'dropped'; stage: ClaimStage; outcome: ClaimDropped['outcome']; error: string };

/** What a draining class's state says. */
export const DRAINING_REASON = 'the claimer is stopping: it claims no more and waits for its tasks to end';

/** A class's state as this runner keeps it: ClaimState without whose it is and when written. */
export type ClassClaimState = Omit<ClaimState, 'runner' | 'resource_class' | 'at'>;

export function initialClaimState(now: Date): ClassClaimState {
  return {
    state: 'claiming',
    since: now.toISOString(),
    reason: '',
    last_error: null,
    dropped: {},
    last_drop: null,
  };
}

/**
 * The state after `e`; `s` itself when nothing changed (there is nothing to write). Pure.
 * A refused token keeps the time it was first refused while refusals go on; the first
 * answer that takes the token ends it.
 */
export function nextClaimState(s: ClassClaimState, e: ClaimLoopEvent, now: Date): ClassClaimState {
  const at = now.toISOString();
  // Draining is for good: a claim answered or a class turned on or off changes nothing then.
  if (s.state === 'draining' && e.kind !== 'failed' && e.kind !== 'dropped') return s;
  switch (e.kind) {
    case 'draining':
      return { ...s, state: 'draining', since: at, reason: DRAINING_REASON };
    case 'answered':
      if (s.state !== 'token-refused' && s.last_error === null) return s;
      return {
        ...s,
        ...(s.state === 'token-refused' ? { state: 'claiming', since: at, reason: '' } : {}),
        last_error: null,
      };
    case 'failed':
      return { ...s, last_error: { at, error: claimStateText(e.error) } };
    case 'refused': {
      const reason = claimStateText(e.error);
      return {
        ...s,
        state: 'token-refused',
        since: s.state === 'token-refused' ? s.since : at,
        reason,
        last_error: { at, error: reason },
      };
    }
    case 'disabled': {
      const reason = claimStateText(e.reason);
      if (s.state === 'disabled' && s.reason === reason) return s;
      return { ...s, state: 'disabled', since: s.state === 'disabled' ? s.since : at, reason };
    }
    case 'enabled':
      if (s.state !== 'disabled') return s;
      return { ...s, state: 'claiming', since: at, reason: '' };
    case 'dropped':
      return {
        ...s,
        dropped: { ...s.dropped, [e.stage]: (s.dropped[e.stage] ?? 0) + 1 },
        last_drop: { at, stage: e.stage, outcome: e.outcome, error: claimStateText(e.error) },
      };
  }
}

export interface ClaimStateBoardDeps {
  runner: string;
  classes: readonly string[];
  kv: Pick<BusKv<typeof ClaimState>, 'put' | 'delete'>;
  logger: Logger;
  /** Default CLAIM_STATE_REFRESH_MS. */
  refreshMs?: number;
  now?: () => Date;
}

export class ClaimStateBoard {
  readonly #d: ClaimStateBoardDeps;
  readonly #now: () => Date;
  readonly #states = new Map<string, ClassClaimState>();
  /** Classes whose state changed since it was last written. */
  readonly #dirty = new Set<string>();
  #writing: Promise<void> | undefined;
  #refreshing: Periodic | undefined;
  #failing = false;
  #stopped = false;

  constructor(deps: ClaimStateBoardDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
    for (const rc of deps.classes) this.#states.set(rc, initialClaimState(this.#now()));
  }

  /** Writes every class's state now and every refresh period until stop(). */
  start(): void {
    if (this.#stopped || this.#refreshing) return;
    this.#refresh();
    const refreshMs = this.#d.refreshMs ?? CLAIM_STATE_REFRESH_MS;
    // A pass only marks every class to be written: #write keeps to one write at a time and
    // logs its failures, so a pass neither overlaps the writes nor fails.
    this.#refreshing = every(
      refreshMs,
      async () => {
        this.#refresh();
      },
      {
        firstDelayMs: refreshMs,
        onError: (err) => this.#d.logger.error({ err }, 'refreshing the claim state failed'),
      },
    );
  }

  report(resourceClass: string, e: ClaimLoopEvent): void {
    const s = this.#states.get(resourceClass);
    if (s === undefined) return;
    const next = nextClaimState(s, e, this.#now());
    if (next === s) return;
    this.#states.set(resourceClass, next);
    this.#write(resourceClass);
  }

  state(resourceClass: string): ClassClaimState | undefined {
    return this.#states.get(resourceClass);
  }

  /** Resolves when every change so far is written (or failed to be). */
  async settled(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  /** Stops writing and removes this runner's keys: a stopped claimer claims for nothing. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#refreshing?.stop();
    await this.settled();
    for (const rc of this.#states.keys()) {
      await this.#d.kv
        .delete(claimStateKey(this.#d.runner, rc))
        .catch((err: unknown) =>
          this.#d.logger.warn(
            { resource_class: rc, err: err instanceof Error ? err.message : String(err) },
            'could not remove the claim state of this runner; the bucket forgets it after its age limit',
          ),
        );
    }
  }

  #refresh(): void {
    for (const rc of this.#states.keys()) this.#write(rc);
  }

  #write(resourceClass: string): void {
    if (this.#stopped) return;
    this.#dirty.add(resourceClass);
    this.#writing ??= this.#flush().finally(() => {
      this.#writing = undefined;
      // A change reported between the end of the loop and here is written too.
      if (this.#dirty.size > 0 && !this.#stopped) this.#write([...this.#dirty][0]!);
    });
  }

  /** One write at a time, each of the latest state, so an older one never lands last. */
  async #flush(): Promise<void> {
    for (const rc of this.#dirty) {
      this.#dirty.delete(rc);
      const s = this.#states.get(rc);
      if (s === undefined) continue;
      const { runner } = this.#d;
      try {
        await this.#d.kv.put(claimStateKey(runner, rc), {
          runner,
          resource_class: rc,
          at: this.#now().toISOString(),
          ...s,
        });
        if (this.#failing) this.#d.logger.info('claim state written again');
        this.#failing = false;
      } catch (err) {
        // Once per streak: NATS away is logged by the bus itself, and status shows the age.
        if (!this.#failing)
          this.#d.logger.warn(
            { resource_class: rc, err: err instanceof Error ? err.message : String(err) },
            'could not write the claim state; longshore status shows an older one until it works again',
          );
        this.#failing = true;
      }
    }
  }
}
