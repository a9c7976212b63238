import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';

describe('Capacity', () => {
  it('never holds more than the total across classes', () => {
    const c = new Capacity(3);
    expect([c.tryAcquire('a'), c.tryAcquire('b'), c.tryAcquire('a'), c.tryAcquire('b')]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(c.inFlight).toBe(3);
    c.release('a');
    expect(c.tryAcquire('b')).toBe(true);
  });
  it('keeps a per-class cap within the total', () => {
    const c = new Capacity(10, { a: 1 });
    expect([c.tryAcquire('a'), c.tryAcquire('a'), c.tryAcquire('b')]).toEqual([true, false, true]);
  });
  it('ignores a release of a class holding nothing', () => {
    const c = new Capacity(1);
    c.release('a');
    expect(c.inFlight).toBe(0);
    expect(c.tryAcquire('a')).toBe(true);
  });
  it('wakes waiters on release', async () => {
    const c = new Capacity(1);
    c.tryAcquire('a');
    const waited = c.changed(new AbortController().signal);
    c.release('a');
    await expect(waited).resolves.toBeUndefined();
  });
});
