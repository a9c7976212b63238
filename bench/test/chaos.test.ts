// The chaos suite in a bounded form for every test run: one fault of each kind (a service
// replica, a NATS node, Redis kept and Redis wiped, the apiserver) while 80 tasks arrive.
// `npm run chaos` runs the full size; README quotes its figures.
import { describe, expect, it } from 'vitest';
import { formatChaos, runChaos } from '../src/chaos.ts';

describe('chaos, bounded', () => {
  it('ends every task exactly once through one fault of each kind: no claim twice, no pod twice, nothing left, no token shown', async () => {
    const report = await runChaos({
      tasks: 80,
      rate: 2,
      extraFaults: 0,
      faultGapMs: [3_000, 5_000],
      image: 'fate.test/succeed:1s',
      seed: 20261204,
      concurrency: 10,
      log: () => {},
    });
    const text = formatChaos(report);
    expect(report.faults.length, text).toBe(8);
    expect(report.endedOnce, text).toBe(report.tasks);
    expect(report.claimedTwice, text).toBe(0);
    expect(report.duplicatePods, text).toBe(0);
    expect(report.objectsLeft, text).toBe(0);
    expect(report.tokensLeaked, text).toBe(0);
  }, 600_000);
});
