// Node changes come in bursts (a node pool scaling, a relabel touching every node): one
// re-check after the burst settles, but no later than `maxWaitMs` after its first change,
// so a cluster that never stops changing is still re-checked.

export interface Debouncer {
  /** Something changed: run once things have been quiet for `waitMs`. */
  trigger(): void;
  /** Drops a pending run. */
  cancel(): void;
  readonly pending: boolean;
}

export function debounce(run: () => void, waitMs: number, maxWaitMs = waitMs * 5): Debouncer {
  let timer: NodeJS.Timeout | undefined;
  let first = 0;
  const fire = () => {
    timer = undefined;
    run();
  };
  return {
    trigger() {
      const now = Date.now();
      if (timer === undefined) first = now;
      else clearTimeout(timer);
      timer = setTimeout(fire, Math.max(0, Math.min(waitMs, first + maxWaitMs - now)));
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
    get pending() {
      return timer !== undefined;
    },
  };
}
