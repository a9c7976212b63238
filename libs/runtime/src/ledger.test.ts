import { LongshoreConfig } from '@longshore/config';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { claimLedger } from './ledger.ts';
import { createMetricsRegistry } from './metrics.ts';

/** Records what a pending claim's write sends: the key and the expiry of the MULTI. */
function recordingRedis() {
  const sent: { key?: string; ttlMs?: number } = {};
  const tx = {
    hset: (key: string) => {
      sent.key = key;
      return tx;
    },
    pexpire: (_key: string, ms: number) => {
      sent.ttlMs = ms;
      return tx;
    },
    exec: async () => [],
  };
  return { redis: { multi: () => tx } as unknown as Redis, sent };
}

describe('claimLedger', () => {
  it('writes under redis.keyPrefix and keeps records for maxRunTime plus the gc threshold', async () => {
    const cfg = LongshoreConfig.parse({
      redis: { keyPrefix: 'tenant-a' },
      agent: { maxRunTime: '1h', gc: { threshold: '10m' } },
    });
    const { redis, sent } = recordingRedis();
    const registry = createMetricsRegistry('scheduler');
    await claimLedger(cfg, redis, { name: 'scheduler', registry }).begin('runner-1', {
      allocation: 'alloc-1',
      resourceClass: 'org/class',
      token: 'tok',
      claimedAt: new Date().toISOString(),
    });
    expect(sent.key).toBe('tenant-a:runner:runner-1:pending');
    expect(sent.ttlMs).toBe(70 * 60_000);
    const counted = await registry.getSingleMetric('longshore_scheduler_ledger_operations_total')?.get();
    expect(counted?.values).toEqual([
      { labels: { operation: 'begin', outcome: 'ok' }, value: 1 },
      { labels: { operation: 'begin', outcome: 'error' }, value: 0 },
    ]);
  });
});
