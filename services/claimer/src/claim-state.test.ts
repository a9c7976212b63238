// A class's claim state: how each thing the claim loop and the taker see changes it, and
// that the board writes what changed (and only that), in order, and removes its keys.
import { ClaimState, claimStateKey, MAX_CLAIM_STATE_TEXT } from '@longshore/contracts';
import { createLogger } from '@longshore/logging';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ClaimStateBoard,
  type ClassClaimState,
  DRAINING_REASON,
  initialClaimState,
  nextClaimState,
} from './claim-state.ts';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const REFUSED = 'POST /api/v3/runner/claim: HTTP 403 (unknown resource class token)';

describe('nextClaimState', () => {
  it('enters token-refused on a refusal, keeps its first time while refusals go on, and leaves it on an answer', () => {
    let s = initialClaimState(t(0));
    s = nextClaimState(s, { kind: 'refused', error: REFUSED }, t(1));
    expect(s).toMatchObject({ state: 'token-refused', since: t(1).toISOString(), reason: REFUSED });
    s = nextClaimState(s, { kind: 'refused', error: 'POST /api/v3/runner/claim: HTTP 404' }, t(2));
    expect(s).toMatchObject({
      state: 'token-refused',
      since: t(1).toISOString(),
      reason: 'POST /api/v3/runner/claim: HTTP 404',
      last_error: { at: t(2).toISOString() },
    });
    s = nextClaimState(s, { kind: 'answered' }, t(3));
    expect(s).toMatchObject({ state: 'claiming', since: t(3).toISOString(), reason: '', last_error: null });
  });

  it('changes nothing (the same object: nothing to write) on answers while claiming well', () => {
    const s = initialClaimState(t(0));
    expect(nextClaimState(s, { kind: 'answered' }, t(1))).toBe(s);
    expect(nextClaimState(s, { kind: 'enabled' }, t(1))).toBe(s);
  });

  it('keeps the last failed call until one works, without leaving claiming', () => {
    let s = nextClaimState(
      initialClaimState(t(0)),
      { kind: 'failed', error: 'no answer (ECONNREFUSED)' },
      t(1),
    );
    expect(s).toMatchObject({ state: 'claiming', last_error: { error: 'no answer (ECONNREFUSED)' } });
    s = nextClaimState(s, { kind: 'answered' }, t(2));
    expect(s.last_error).toBeNull();
  });

  it('follows the constraint checker: disabled, then claiming again', () => {
    const off = { kind: 'disabled', reason: 'constraint checker: no node matches' } as const;
    let s = nextClaimState(initialClaimState(t(0)), off, t(1));
    expect(s).toMatchObject({ state: 'disabled', reason: off.reason, since: t(1).toISOString() });
    expect(nextClaimState(s, off, t(2))).toBe(s);
    // Another reason while still off: the reason changes, not since when.
    expect(nextClaimState(s, { kind: 'disabled', reason: 'pod check: refused' }, t(3))).toMatchObject({
      reason: 'pod check: refused',
      since: t(1).toISOString(),
    });
    s = nextClaimState(s, { kind: 'enabled' }, t(3));
    expect(s).toMatchObject({ state: 'claiming', reason: '', since: t(3).toISOString() });
  });

  it('drains for good: answers, refusals and the checker no longer change it; failures and drops still show', () => {
    let s = nextClaimState(initialClaimState(t(0)), { kind: 'disabled', reason: 'no node' }, t(1));
    s = nextClaimState(s, { kind: 'draining' }, t(2));
    expect(s).toMatchObject({ state: 'draining', since: t(2).toISOString(), reason: DRAINING_REASON });
    for (const e of [
      { kind: 'answered' },
      { kind: 'enabled' },
      { kind: 'disabled', reason: 'x' },
      { kind: 'refused', error: REFUSED },
      { kind: 'draining' },
    ] as const)
      expect(nextClaimState(s, e, t(3))).toBe(s);
    s = nextClaimState(
      s,
      { kind: 'dropped', stage: 'announce', outcome: 'released', error: 'bus away' },
      t(4),
    );
    expect(s).toMatchObject({ state: 'draining', dropped: { announce: 1 } });
  });

  it('counts drops by stage and keeps the last one, its error cut to the limit', () => {
    let s: ClassClaimState = initialClaimState(t(0));
    s = nextClaimState(s, { kind: 'dropped', stage: 'config', outcome: 'failed', error: 'a' }, t(1));
    s = nextClaimState(s, { kind: 'dropped', stage: 'config', outcome: 'failed', error: 'b' }, t(2));
    s = nextClaimState(
      s,
      { kind: 'dropped', stage: 'claim', outcome: 'unreported', error: 'x'.repeat(5_000) },
      t(3),
    );
    expect(s.dropped).toEqual({ config: 2, claim: 1 });
    expect(s.last_drop).toMatchObject({ at: t(3).toISOString(), stage: 'claim', outcome: 'unreported' });
    expect(s.last_drop?.error).toHaveLength(MAX_CLAIM_STATE_TEXT);
    expect(s.state).toBe('claiming');
  });
});

/** A KV bucket in a Map, validating as the bus does, with puts that can be made to fail. */
function memoryKv() {
  const values = new Map<string, ClaimState>();
  const puts: ClaimState[] = [];
  let failing = false;
  return {
    values,
    puts,
    fail: (on: boolean) => {
      failing = on;
    },
    kv: {
      put: async (key: string, value: unknown) => {
        await Promise.resolve();
        if (failing) throw new Error('nats: timeout');
        const v = ClaimState.parse(value);
        values.set(key, v);
        puts.push(v);
        return puts.length;
      },
      delete: async (key: string) => {
        values.delete(key);
      },
    },
  };
}

describe('ClaimStateBoard', () => {
  const logger = createLogger({ name: 'test', level: 'silent' });

  it('writes each class at start, then only what changed, the latest state last; stop removes its keys', async () => {
    const mem = memoryKv();
    const board = new ClaimStateBoard({
      runner: 'claimer-0',
      classes: ['acme/a', 'acme/b'],
      kv: mem.kv,
      logger,
      now: () => t(5),
    });
    board.start();
    await board.settled();
    expect([...mem.values.keys()].sort()).toEqual([
      claimStateKey('claimer-0', 'acme/a'),
      claimStateKey('claimer-0', 'acme/b'),
    ]);
    mem.puts.length = 0;
    board.report('acme/a', { kind: 'answered' });
    board.report('acme/b', { kind: 'refused', error: REFUSED });
    board.report('acme/b', { kind: 'refused', error: `${REFUSED} again` });
    board.report('acme/unknown', { kind: 'refused', error: REFUSED });
    await board.settled();
    // Only acme/b changed; its latest state is the one written last.
    expect(new Set(mem.puts.map((p) => p.resource_class))).toEqual(new Set(['acme/b']));
    expect(mem.puts.at(-1)).toMatchObject({ state: 'token-refused', reason: `${REFUSED} again` });
    expect(mem.values.get(claimStateKey('claimer-0', 'acme/b'))).toMatchObject({
      runner: 'claimer-0',
      at: t(5).toISOString(),
    });
    await board.stop();
    expect(mem.values.size).toBe(0);
    board.report('acme/a', { kind: 'refused', error: REFUSED });
    await board.settled();
    expect(mem.values.size).toBe(0);
  });

  it('goes on after failed writes and writes the state once it can again', async () => {
    const mem = memoryKv();
    const board = new ClaimStateBoard({ runner: 'r', classes: ['acme/a'], kv: mem.kv, logger });
    mem.fail(true);
    board.start();
    board.report('acme/a', { kind: 'refused', error: REFUSED });
    await board.settled();
    expect(mem.values.size).toBe(0);
    mem.fail(false);
    board.report('acme/a', { kind: 'answered' });
    await board.settled();
    expect(mem.values.get(claimStateKey('r', 'acme/a'))).toMatchObject({ state: 'claiming' });
    await board.stop();
  });

  describe('refresh', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('rewrites every class each period, unchanged or not (the bucket forgets the rest), until stop', async () => {
      vi.useFakeTimers();
      const mem = memoryKv();
      const board = new ClaimStateBoard({
        runner: 'r',
        classes: ['acme/a', 'acme/b'],
        kv: mem.kv,
        logger,
        refreshMs: 1_000,
      });
      board.start();
      await board.settled();
      expect(mem.puts).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(999);
      expect(mem.puts).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1);
      await board.settled();
      expect(mem.puts.map((p) => p.resource_class).sort()).toEqual(['acme/a', 'acme/a', 'acme/b', 'acme/b']);
      await vi.advanceTimersByTimeAsync(1_000);
      await board.settled();
      expect(mem.puts).toHaveLength(6);
      await board.stop();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(mem.puts).toHaveLength(6);
      expect(mem.values.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});

describe('claimStateKey', () => {
  it('keeps runners and classes apart in keys NATS accepts', () => {
    expect(claimStateKey('claimer-7f9c', 'acme/small.x')).toBe('claimer-7f9c.acme.small.x');
    expect(claimStateKey('a.b', 'c/d')).not.toBe(claimStateKey('a', 'b/c.d'));
    expect(claimStateKey('pod name/ü', 'acme/x')).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
  });
});
