import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from './retry-after.ts';

const NOW = Date.parse('2025-01-02T03:04:05Z');

describe('parseRetryAfter', () => {
  it.each([
    ['0', 0],
    ['3', 3_000],
    [' 120 ', 120_000],
    ['1.5', 1_500],
  ])('reads delay-seconds %j as %d ms', (header, ms) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms);
  });

  it('reads an HTTP date relative to now, and a past date as 0', () => {
    expect(parseRetryAfter('Thu, 02 Jan 2025 03:04:15 GMT', NOW)).toBe(10_000);
    expect(parseRetryAfter('Thu, 02 Jan 2025 03:00:00 GMT', NOW)).toBe(0);
  });

  it.each([null, undefined, '', '-1', 'soon', '12abc', '1e3'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined();
  });
});
