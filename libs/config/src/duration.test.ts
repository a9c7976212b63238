import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DurationError, duration, formatDuration, optionalDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['5h5m', 18_300_000],
    ['15m', 900_000],
    ['3m', 180_000],
    ['1s', 1_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['1h2m3.5s', 3_723_500],
    ['0', 0],
    ['+0', 0],
    ['-0', 0],
    ['0s', 0],
    ['1.1s', 1_100],
    ['.5s', 500],
    ['5.s', 5_000],
    ['-1.5s', -1_500],
    ['+5m', 300_000],
    ['1h1h', 7_200_000],
    ['1m30s', 90_000],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['2ns', 0.000002],
    ['10ms500us', 10.5],
  ])('%s is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['', /empty/],
    ['15', /missing unit \(e\.g\. "15s" or "15m"\)/],
    ['1.5', /missing unit/],
    ['1h30', /missing unit/],
    ['5x', /unknown unit "x"/],
    ['1H', /unknown unit "H"/],
    ['1 s', /unknown unit " s"/],
    ['h', /expected a number at "h"/],
    ['.s', /expected a number/],
    ['1.2.3s', /missing unit/],
    ['--1s', /expected a number/],
    ['300000000h', /too large/],
  ])('rejects %j', (input, reason) => {
    expect(() => parseDuration(input)).toThrow(DurationError);
    expect(() => parseDuration(input)).toThrow(reason);
  });

  it('names the input in the message', () => {
    expect(() => parseDuration('5x')).toThrow('invalid duration "5x": unknown unit "x"; valid units are');
  });
});

describe('formatDuration', () => {
  it.each([
    [18_300_000, '5h5m'],
    [18_000_000, '5h'],
    [900_000, '15m'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [300, '300ms'],
    [3_723_500, '1h2m3.5s'],
    [3_600_500, '1h0.5s'],
    [0, '0s'],
    [-1_500, '-1.5s'],
    [0.0015, '1.5us'],
    [0.000002, '2ns'],
    [10.5, '10.5ms'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1_001, 59_999, 86_400_000, 1_234_567_890, 0.25, 123_456.789]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  it('rejects non-finite values', () => {
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
  });
});

describe('duration() schema', () => {
  const S = z.object({ d: duration(), p: duration({ allowZero: false }).optional(), o: optionalDuration() });

  it('outputs milliseconds', () => {
    expect(S.parse({ d: '5h5m', p: '1s', o: '10m' })).toEqual({ d: 18_300_000, p: 1_000, o: 600_000 });
  });

  it('takes a YAML number 0 as "0" but no other bare number', () => {
    expect(S.parse({ d: 0 }).d).toBe(0);
    const r = S.safeParse({ d: 15 });
    expect(r.error?.issues[0]?.message).toMatch(/invalid duration "15": missing unit \(e\.g\. "15s"/);
  });

  it('rejects negatives, zero where not allowed, and non-strings', () => {
    expect(S.safeParse({ d: '-1s' }).error?.issues[0]?.message).toMatch(/must not be negative/);
    expect(S.safeParse({ d: '1s', p: '0' }).error?.issues[0]?.message).toMatch(/must be greater than zero/);
    expect(S.safeParse({ d: true }).error?.issues[0]?.message).toBe(
      'expected a duration such as "15m", got boolean',
    );
  });

  it('treats unset, null and "" as no value when optional', () => {
    expect(S.parse({ d: '1s', o: '' }).o).toBeUndefined();
    expect(S.parse({ d: '1s', o: null }).o).toBeUndefined();
    expect(S.parse({ d: '1s' }).o).toBeUndefined();
  });
});
