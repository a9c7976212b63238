// The GC's settings, read from the validated config.
import type { LongshoreConfig } from '@longshore/config';
import type { GcSettings } from './sweeper.ts';

export function gcSettings(cfg: LongshoreConfig, runner: string, namespace: string): GcSettings {
  const gc = cfg.agent.gc;
  return {
    namespace,
    runner,
    intervalMs: gc.interval,
    thresholdMs: gc.threshold,
    claimGraceMs: gc.claimGrace,
    orphanGraceMs: gc.orphanGrace,
    maxRequestsPerSecond: gc.maxRequestsPerSecond,
    batchSize: gc.batchSize,
    unsafeRetryClasses: new Set(
      Object.entries(cfg.agent.resourceClasses)
        .filter(([, rc]) => rc.enableUnsafeRetries)
        .map(([name]) => name),
    ),
  };
}
