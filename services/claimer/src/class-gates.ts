// What keeps each class from claiming, by source (the constraint checker, the scheduler's pod
// check): a class claims only when no source holds it back. A change is logged once (a
// refusal at error level, since a person must act on it) and wakes the claim loops waiting.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@longshore/logging';

export type GateSource = 'constraints' | 'pod-check';

export class ClassGates {
  readonly #logger: Logger;
  /** class -> source -> why it holds the class back */
  readonly #held = new Map<string, Map<GateSource, string>>();
  #wake: (() => void)[] = [];

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Sets (a reason) or clears (undefined) what `source` says about a class. */
  set(resourceClass: string, source: GateSource, why: string | undefined): void {
    const held = this.#held.get(resourceClass) ?? new Map<GateSource, string>();
    if (held.get(source) === why) return;
    if (why === undefined) held.delete(source);
    else held.set(source, why);
    this.#held.set(resourceClass, held);
    const log = { resource_class: resourceClass, source, reason: why };
    if (why === undefined) this.#logger.info(log, 'claiming allowed again for this class');
    else if (why.includes('refused')) this.#logger.error(log, 'claiming held back for this class');
    else this.#logger.warn(log, 'claiming held back for this class');
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }

  /** Why the class must not claim now (every source that holds it back), or undefined. */
  why(resourceClass: string): string | undefined {
    const held = this.#held.get(resourceClass);
    return held === undefined || held.size === 0 ? undefined : [...held.values()].join('; ');
  }

  /** Resolves at the next change of any class, after `ms`, or when `signal` aborts. */
  changed(ms: number, signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const woken = new Promise<void>((resolve) => this.#wake.push(resolve));
    const both = AbortSignal.any([signal, stop.signal]);
    return Promise.race([woken, sleep(ms, undefined, { signal: both }).catch(() => undefined)]).finally(() =>
      stop.abort(),
    );
  }
}
