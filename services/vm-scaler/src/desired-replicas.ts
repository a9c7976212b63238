// The scaling decision of seed 002: one VM per task that is waiting or running, within the
// class's bounds. Pure, so the rule is tested directly and the loop only sequences I/O.

export interface DemandAndBounds {
  /** Tasks queued for the resource class and not yet claimed by any runner. */
  readonly unclaimed: number;
  /** Tasks of the class that runners are executing now. */
  readonly running: number;
  /** VMs kept even with no demand: the pre-warmed pool. */
  readonly min: number;
  /** Most VMs the class may have at once. */
  readonly max: number;
}

/** `unclaimed + running`, clamped to `[min, max]`. */
export function desiredReplicas({ unclaimed, running, min, max }: DemandAndBounds): number {
  for (const [name, v] of Object.entries({ unclaimed, running, min, max })) {
    if (!Number.isInteger(v) || v < 0)
      throw new RangeError(`${name} must be a non-negative integer, not ${v}`);
  }
  if (min > max) throw new RangeError(`min (${min}) must not exceed max (${max})`);
  return Math.min(max, Math.max(min, unclaimed + running));
}
