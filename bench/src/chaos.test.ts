import { describe, expect, it } from 'vitest';
import { type ChaosReport, chaosClean, formatChaos } from './chaos.ts';

const clean: ChaosReport = {
  startedAt: '2026-12-05T06:14:21.157Z',
  options: {
    tasks: 2,
    rate: 2,
    extraFaults: 0,
    faultGapMs: [1, 2],
    image: 'fate.test/succeed:1s',
    seed: 1,
    concurrency: 2,
  },
  tasks: 2,
  faults: [],
  endedOnce: 2,
  notEndedOnce: [],
  completed: 2,
  failed: 0,
  claimedTwice: 0,
  duplicatePods: 0,
  podsCreated: 2,
  objectsLeft: 0,
  leftovers: [],
  tokensLeaked: 0,
  tokensWatched: 4,
  longestStallMs: {},
  durationMs: 1000,
};

describe('chaosClean', () => {
  it('is true only when every figure is as it must be', () => {
    expect(chaosClean(clean)).toBe(true);
    for (const miss of [
      { endedOnce: 1 },
      { claimedTwice: 1 },
      { duplicatePods: 1 },
      { objectsLeft: 1 },
      { tokensLeaked: 1 },
    ])
      expect(chaosClean({ ...clean, ...miss }), JSON.stringify(miss)).toBe(false);
  });
});

describe('formatChaos', () => {
  it('lists what was left and where the logs were kept, only when there is something', () => {
    expect(formatChaos(clean)).not.toMatch(/Left:|Logs kept|Not ended/);
    const text = formatChaos({
      ...clean,
      objectsLeft: 2,
      leftovers: ['pod task-1-1 Succeeded, age 130 s', 'secret task-1-1, age 131 s'],
      endedOnce: 1,
      notEndedOnce: ['task t-2 running: queued 10:00:00.000, claimed 10:00:01.000'],
      logsKept: '/tmp/longshore-chaos-logs-abc',
    });
    expect(text).toContain(
      'Not ended exactly once:\n\n- task t-2 running: queued 10:00:00.000, claimed 10:00:01.000',
    );
    expect(text).toContain('- pod task-1-1 Succeeded, age 130 s');
    expect(text).toContain('- secret task-1-1, age 131 s');
    expect(text).toContain('Logs kept in /tmp/longshore-chaos-logs-abc');
  });
});
