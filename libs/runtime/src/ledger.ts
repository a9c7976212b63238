// The claim ledger as the claimer, the scheduler and gc each open it. They must agree on
// the key prefix and on how long a task token is kept, or one of them would look for
// claims where the others do not write them, or find a token already expired.
import type { LongshoreConfig } from '@longshore/config';
import { RedisClaimLedger } from '@longshore/ledger';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { measuredLedger } from './red-metrics.ts';

/** Where a service's ledger operations are counted: its name and registry (a Service fits). */
export interface LedgerMetricsTarget {
  readonly name: string;
  readonly registry: Registry;
}

/**
 * The ledger under redis.keyPrefix. A token is kept for agent.maxRunTime plus
 * agent.gc.threshold: past that the task cannot have a live pod (gc deletes it), so no one
 * needs its token any more. Every operation is counted and timed on the service's registry
 * (longshore_<service>_ledger_operations_total, see measuredLedger).
 */
export function claimLedger(
  cfg: LongshoreConfig,
  redis: Redis,
  metrics: LedgerMetricsTarget,
): RedisClaimLedger {
  const ledger = new RedisClaimLedger({
    redis,
    keyPrefix: cfg.redis.keyPrefix,
    tokenTtlMs: cfg.agent.maxRunTime + cfg.agent.gc.threshold,
  });
  return measuredLedger(ledger, metrics.registry, metrics.name);
}
