import type { ClaimRecord } from '@longshore/ledger';
import { describe, expect, it } from 'vitest';
import { Capacity } from './capacity.ts';
import { ClaimBook } from './claim-book.ts';

const RC = 'acme/small';
const pending = (allocation: string) => ({
  allocation,
  resourceClass: RC,
  token: `tok-${allocation}`,
  claimedAt: '',
});
const record = (allocation: string, taskId: string, attempt = 1) =>
  ({ allocation, taskId, attempt, resourceClass: RC }) as ClaimRecord;

describe('ClaimBook', () => {
  it('frees a slot exactly once per claim, however often it is closed', () => {
    const capacity = new Capacity(2);
    const book = new ClaimBook(capacity);
    expect(capacity.tryAcquire(RC)).toBe(true);
    expect(book.open(pending('a1'), true)).toBe(true);
    expect(book.open(pending('a2'), false)).toBe(true);
    expect(capacity.inFlight).toBe(2);
    expect(book.close('a1')).toBe(true);
    expect(book.close('a1')).toBe(false);
    expect(book.close('never-opened')).toBe(false);
    expect(capacity.inFlight).toBe(1);
  });

  it('refuses a second open of the same allocation, taking nothing', () => {
    const capacity = new Capacity(4);
    const book = new ClaimBook(capacity);
    book.open(pending('a1'), false);
    expect(book.open(pending('a1'), false)).toBe(false);
    expect(capacity.inFlight).toBe(1);
    expect(book.size).toBe(1);
  });

  it('finds a filed claim by task and attempt only', () => {
    const book = new ClaimBook(new Capacity(4));
    book.open(pending('a1'), false);
    book.filed(record('a1', 't1', 2));
    expect(book.byTask('t1', 2)?.pending.allocation).toBe('a1');
    expect(book.byTask('t1', 1)).toBeUndefined();
    book.close('a1');
    expect(book.byTask('t1', 2)).toBeUndefined();
  });

  it('keeps the newer claim of a task when an older one of the same task is closed', () => {
    const book = new ClaimBook(new Capacity(4));
    book.open(pending('a1'), false);
    book.filed(record('a1', 't1', 1));
    book.open(pending('a2'), false);
    book.filed(record('a2', 't1', 2));
    book.close('a1');
    expect(book.byTask('t1', 2)?.pending.allocation).toBe('a2');
  });
});
