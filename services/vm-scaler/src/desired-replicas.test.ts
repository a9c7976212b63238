import { describe, expect, it } from 'vitest';
import { desiredReplicas } from './desired-replicas.ts';

describe('desiredReplicas', () => {
  it('is unclaimed plus running inside the bounds (seed 002: 4 queued + 2 running = 6)', () => {
    expect(desiredReplicas({ unclaimed: 4, running: 2, min: 3, max: 10 })).toBe(6);
  });

  it('keeps minReplicas as a warm pool when there is no demand (seed 002: idle at 3)', () => {
    expect(desiredReplicas({ unclaimed: 0, running: 0, min: 3, max: 10 })).toBe(3);
    expect(desiredReplicas({ unclaimed: 1, running: 1, min: 3, max: 10 })).toBe(3);
  });

  it('never exceeds maxReplicas', () => {
    expect(desiredReplicas({ unclaimed: 40, running: 7, min: 3, max: 10 })).toBe(10);
    expect(desiredReplicas({ unclaimed: 0, running: 12, min: 0, max: 10 })).toBe(10);
  });

  it('follows demand exactly at the bounds and between zero bounds', () => {
    expect(desiredReplicas({ unclaimed: 3, running: 0, min: 3, max: 3 })).toBe(3);
    expect(desiredReplicas({ unclaimed: 0, running: 0, min: 0, max: 0 })).toBe(0);
    expect(desiredReplicas({ unclaimed: 5, running: 0, min: 0, max: 0 })).toBe(0);
    expect(desiredReplicas({ unclaimed: 2, running: 3, min: 0, max: 5 })).toBe(5);
  });

  it('rejects inputs that cannot be counts or bounds', () => {
    expect(() => desiredReplicas({ unclaimed: -1, running: 0, min: 0, max: 1 })).toThrow(
      'unclaimed must be a non-negative integer, not -1',
    );
    expect(() => desiredReplicas({ unclaimed: 0, running: 0.5, min: 0, max: 1 })).toThrow(RangeError);
    expect(() => desiredReplicas({ unclaimed: 0, running: 0, min: 2, max: 1 })).toThrow(
      'min (2) must not exceed max (1)',
    );
  });
});
