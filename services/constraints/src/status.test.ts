import { describe, expect, it } from 'vitest';
import { nextStatus } from './status.ts';

const at = new Date('2026-01-01T00:00:00.000Z');
const fail = { ok: false as const, reason: 'no node' };

describe('nextStatus', () => {
  it('stays enabled below the threshold and disables at it', () => {
    let s = nextStatus(undefined, fail, 3, 'a/b', at);
    expect(s).toEqual({
      resource_class: 'a/b',
      at: at.toISOString(),
      enabled: true,
      consecutive_failures: 1,
      reason: 'no node',
    });
    s = nextStatus(s, fail, 3, 'a/b', at);
    expect(s).toMatchObject({ enabled: true, consecutive_failures: 2 });
    s = nextStatus(s, fail, 3, 'a/b', at);
    expect(s).toMatchObject({ enabled: false, consecutive_failures: 3 });
    s = nextStatus(s, fail, 3, 'a/b', at);
    expect(s).toMatchObject({ enabled: false, consecutive_failures: 4 });
  });

  it('the first pass enables again and resets the count', () => {
    const disabled = {
      resource_class: 'a/b',
      at: at.toISOString(),
      enabled: false,
      consecutive_failures: 7,
      reason: 'x',
    };
    expect(nextStatus(disabled, { ok: true }, 3, 'a/b', at)).toEqual({
      resource_class: 'a/b',
      at: at.toISOString(),
      enabled: true,
      consecutive_failures: 0,
      reason: '',
    });
  });

  it('threshold 1 disables on the first failure', () => {
    expect(nextStatus(undefined, fail, 1, 'a/b', at).enabled).toBe(false);
  });
});
