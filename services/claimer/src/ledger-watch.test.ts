// The watch writes back what the runner holds when the ledger's generation changes, and
// nothing otherwise. A ledger fake records the writes (the real Redis path, with Redis
// restarted empty under a running claimer, is in e2e/hostile.test.ts).
import type { ClaimLedger, ClaimRecord, LedgerGeneration } from '@longshore/ledger';
import { createLogger } from '@longshore/logging';
import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';
import { ClaimBook } from './claim-book.ts';
import { LedgerWatch } from './ledger-watch.ts';

const RC = 'acme/small';

function setup() {
  let generation: LedgerGeneration = { id: 'g1@1', since: 1, seq: 1 };
  const writes: string[] = [];
  const restored: ClaimRecord[] = [];
  let lastSeq = 1;
  const ledger = {
    generation: async () => generation,
    get lastSeq() {
      return lastSeq;
    },
    resetSeq: () => {
      lastSeq = 0;
    },
    begin: async (_r: string, p: { allocation: string }) => {
      writes.push(`begin ${p.allocation}`);
    },
    restore: async (r: ClaimRecord, token: string) => {
      writes.push(`restore ${r.taskId} ${token}`);
      restored.push(r);
    },
    finish: async (id: string) => {
      writes.push(`finish ${id}`);
      return true;
    },
    claimsOf: async () => ['t1', 'ghost'],
    get: async (id: string) =>
      id === 'ghost' ? ({ taskId: 'ghost', attempt: 1, runner: 'r1' } as ClaimRecord) : undefined,
    noteRebuild: async () => {
      writes.push('note');
    },
  } as unknown as ClaimLedger;
  const published: string[] = [];
  const bus = {
    publish: async (def: { name: string }) => {
      published.push(def.name);
      return { seq: 1, duplicate: false };
    },
  };
  const book = new ClaimBook(new Capacity(4));
  book.open({ allocation: 'a1', resourceClass: RC, token: 'tok-1', claimedAt: '' }, false);
  book.filed({ allocation: 'a1', taskId: 't1', attempt: 1, announced: true, launched: false } as ClaimRecord);
  book.open({ allocation: 'a2', resourceClass: RC, token: 'tok-2', claimedAt: '' }, false);
  const watch = new LedgerWatch({
    runner: 'r1',
    ledger,
    book,
    bus: bus as never,
    logger: createLogger({ name: 'test', level: 'silent' }),
    intervalMs: 60_000,
    metrics: { rebuilt: () => {} },
  });
  return {
    watch,
    writes,
    restored,
    published,
    lose: () => {
      generation = { id: 'g2@2', since: 2, seq: 0 };
    },
    /** A replica promoted without the last writes: the same generation, fewer claims filed. */
    goBack: () => {
      lastSeq = 5;
      generation = { id: 'g1@1', since: 1, seq: 3 };
    },
  };
}

describe('LedgerWatch', () => {
  it('writes nothing while the generation stays the same', async () => {
    const s = setup();
    await s.watch.start();
    expect(await s.watch.check()).toBeUndefined();
    expect(s.writes).toEqual([]);
    await s.watch.stop();
  });

  it('writes back every claim it holds once the generation changed', async () => {
    const s = setup();
    await s.watch.start();
    s.lose();
    expect(await s.watch.check()).toEqual({
      restoredClaims: 1,
      restoredPending: 1,
      closedAgain: 1,
      errors: 0,
    });
    // The ghost: a claim this runner had closed, brought back by the loss.
    expect(s.writes).toEqual(['restore t1 tok-1', 'begin a2', 'finish ghost', 'note']);
    expect(s.restored[0]).toMatchObject({ announced: true, launched: false });
    expect(s.published).toEqual(['ledger.rebuilt']);
    // Once rebuilt, the new generation is the known one.
    expect(await s.watch.check()).toBeUndefined();
    await s.watch.stop();
  });

  it('writes back every claim it holds when the ledger went back in time under the same generation', async () => {
    const s = setup();
    await s.watch.start();
    s.goBack();
    expect(await s.watch.check()).toEqual({
      restoredClaims: 1,
      restoredPending: 1,
      closedAgain: 1,
      errors: 0,
    });
    // The count it expects starts again from the ledger's: no second rebuild.
    expect(await s.watch.check()).toBeUndefined();
    await s.watch.stop();
  });
});
