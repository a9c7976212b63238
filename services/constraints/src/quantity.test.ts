import { describe, expect, it } from 'vitest';
import { parseQuantity, QuantityError } from './quantity.ts';

describe('parseQuantity', () => {
  it.each([
    ['1', 1],
    ['16', 16],
    ['500m', 0.5],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['100n', 1e-7],
    ['250u', 2.5e-4],
    ['1k', 1000],
    ['2M', 2e6],
    ['3G', 3e9],
    ['1T', 1e12],
    ['1Ki', 1024],
    ['128Mi', 128 * 2 ** 20],
    ['64Gi', 64 * 2 ** 30],
    ['1Ti', 2 ** 40],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['+2', 2],
  ])('%s = %d', (q, n) => {
    expect(parseQuantity(q)).toBeCloseTo(n, 12);
  });

  it('passes numbers through', () => {
    expect(parseQuantity(4)).toBe(4);
  });

  it.each(['', 'Gi', '1GB', '1 Gi', 'abc', '1.2.3', '1Kb'])('rejects %j', (q) => {
    expect(() => parseQuantity(q)).toThrow(QuantityError);
  });
});
