import { taskMsgId } from '@longshore/contracts';
import type { ClaimRecord } from '@longshore/ledger';
import { describe, expect, it } from 'vitest';
import { reannounceMsgId } from './sweeper.ts';

const claim = { taskId: 'task-1', attempt: 2 } as ClaimRecord;
const MINUTE = 60_000;

describe('reannounceMsgId', () => {
  it("is never the claimer's own announce id, which the stream would drop as a repeat", () => {
    expect(reannounceMsgId(Date.now(), MINUTE)(claim)).not.toBe(taskMsgId('task-1', 2, 'claimed'));
  });

  it('is one per claim and sweep interval: two replicas sweeping in one interval send one, the next interval another', () => {
    const t = 1_700_000_020_000; // 40 s into a minute
    const first = reannounceMsgId(t, MINUTE);
    expect(reannounceMsgId(t + 19_000, MINUTE)(claim)).toBe(first(claim));
    expect(reannounceMsgId(t + 20_000, MINUTE)(claim)).not.toBe(first(claim));
    expect(first({ ...claim, attempt: 3 })).not.toBe(first(claim));
    expect(first({ ...claim, taskId: 'task-2' })).not.toBe(first(claim));
  });
});
