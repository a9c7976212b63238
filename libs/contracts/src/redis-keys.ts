// Redis key builders. All keys of one deployment share a prefix, so tests (and tenants)
// isolate themselves by choosing one.

export interface RedisKeys {
  /** Hash: the ledger entry of a claimed task (resource class, attempt, allocation, times). */
  claim(taskId: string): string;
  /** Sorted set of task ids claimed by a runner instance, scored by claim time. */
  runnerClaims(runner: string): string;
  /** String with a TTL: the task token. Never copied onto the bus or into logs. */
  token(taskId: string): string;
  /** Integer: unsafe retries used so far for a task. */
  retries(taskId: string): string;
  /** Prefix for locks and leases, e.g. the GC sweep lease. */
  lock(name: string): string;
  /**
   * String without a TTL: the ledger's generation (`<random id>@<ms since the epoch>`),
   * written once by whoever finds it missing. If it changes under a running service, Redis
   * lost the ledger's data (it came back empty, or was flushed or failed over).
   */
  generation(): string;
  /** Hash: the last ledger rebuild (when, by whom, what was restored), for `longshore status`. */
  lastRebuild(): string;
  /** Integer without a TTL: claims filed in this generation (see LedgerGeneration.seq). */
  sequence(): string;
}

export function redisKeys(prefix: string): RedisKeys {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) throw new Error(`redis key prefix "${prefix}" is not a plain token`);
  return {
    claim: (id) => `${prefix}:claim:${id}`,
    runnerClaims: (runner) => `${prefix}:runner:${runner}:claims`,
    token: (id) => `${prefix}:token:${id}`,
    retries: (id) => `${prefix}:retries:${id}`,
    lock: (name) => `${prefix}:lock:${name}`,
    generation: () => `${prefix}:ledger:generation`,
    lastRebuild: () => `${prefix}:ledger:last-rebuild`,
    sequence: () => `${prefix}:ledger:seq`,
  };
}
