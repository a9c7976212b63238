// The per-class state machine: a class is disabled after `threshold` consecutive failed
// checks and enabled again by the first check that passes. Pure, so restarts and node
// events change nothing about how it counts.
import type { ConstraintStatus } from '@longshore/contracts';
import type { CheckResult } from './check.ts';

export function nextStatus(
  prev: ConstraintStatus | undefined,
  result: CheckResult,
  threshold: number,
  resourceClass: string,
  at: Date,
): ConstraintStatus {
  const base = { resource_class: resourceClass, at: at.toISOString() };
  if (result.ok) return { ...base, enabled: true, consecutive_failures: 0, reason: '' };
  const failures = (prev?.consecutive_failures ?? 0) + 1;
  return { ...base, enabled: failures < threshold, consecutive_failures: failures, reason: result.reason };
}
