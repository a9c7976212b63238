import { describe, expect, it } from 'vitest';
import { Subjects } from './subjects.ts';
import {
  TaskEventError,
  taskClaimedEvent,
  taskFailedEvent,
  taskInterruptedEvent,
  taskReleasedEvent,
  taskReportedEvent,
  taskRunningEvent,
  taskScheduledEvent,
} from './task-events.ts';

const AT = '2026-12-05T10:00:00.000Z';
const REF = { taskId: 'task-1', resourceClass: 'org/small', attempt: 2, runner: 'runner-a', at: AT };
const BASE = { task_id: 'task-1', resource_class: 'org/small', attempt: 2, runner: 'runner-a', at: AT };
const POD = { pod: 'ls-task-1-2', namespace: 'runners' };

describe('taskClaimedEvent', () => {
  it('carries the allocation, with the claimed id of the task and attempt', () => {
    expect(taskClaimedEvent(REF, { allocation: 'alloc-1' })).toEqual({
      subject: Subjects.taskClaimed,
      payload: { ...BASE, allocation: 'alloc-1' },
      msgId: 'task-1.2.claimed',
    });
  });

  it('stamps the time of building when given none, and takes a Date', () => {
    const before = Date.now();
    const { payload } = taskClaimedEvent({ ...REF, at: undefined }, { allocation: 'a' });
    expect(Date.parse(payload.at)).toBeGreaterThanOrEqual(before);
    expect(taskClaimedEvent({ ...REF, at: new Date(AT) }, { allocation: 'a' }).payload.at).toBe(AT);
  });

  it('throws TaskEventError, naming the field, for what the schema refuses', () => {
    expect(() => taskClaimedEvent({ ...REF, attempt: 0 }, { allocation: 'a' })).toThrow(TaskEventError);
    expect(() => taskClaimedEvent(REF, { allocation: '' })).toThrow(
      /task\.claimed event for task task-1: allocation/,
    );
    expect(() => taskClaimedEvent({ ...REF, at: 'yesterday' }, { allocation: 'a' })).toThrow(/\bat:/);
  });
});

describe('taskReleasedEvent', () => {
  it('says why and how many retries are used', () => {
    expect(taskReleasedEvent(REF, { reason: 'evicted', retriesUsed: 2 })).toEqual({
      subject: Subjects.taskReleased,
      payload: { ...BASE, reason: 'evicted', retries_used: 2 },
      msgId: 'task-1.2.released',
    });
  });
});

describe('taskScheduledEvent', () => {
  it('names the pod, and its warnings only when there are some', () => {
    expect(taskScheduledEvent(REF, { ...POD, warnings: ['no uid 0'] })).toEqual({
      subject: Subjects.taskScheduled,
      payload: { ...BASE, ...POD, warnings: ['no uid 0'] },
      msgId: 'task-1.2.scheduled',
    });
    expect(taskScheduledEvent(REF, { ...POD, warnings: [] }).payload).not.toHaveProperty('warnings');
    expect(taskScheduledEvent(REF, POD).payload).not.toHaveProperty('warnings');
  });
});

describe('taskRunningEvent', () => {
  it('names the node when the apiserver has said which', () => {
    expect(taskRunningEvent(REF, { ...POD, node: 'node-1' })).toEqual({
      subject: Subjects.taskRunning,
      payload: { ...BASE, ...POD, node: 'node-1' },
      msgId: 'task-1.2.running',
    });
    expect(taskRunningEvent(REF, { ...POD, node: undefined }).payload).not.toHaveProperty('node');
  });
});

describe('the three endings', () => {
  const end = { ...POD, reason: 'exit-code', error: 'exit 3', exitCode: 3, toRetry: false } as const;

  it('share one id per attempt, so the first of them is the end', () => {
    const built = [taskReportedEvent, taskFailedEvent, taskInterruptedEvent].map((b) => b(REF, end));
    expect(built.map((e) => e.subject)).toEqual([
      Subjects.taskReported,
      Subjects.taskFailed,
      Subjects.taskInterrupted,
    ]);
    expect(new Set(built.map((e) => e.msgId))).toEqual(new Set(['task-1.2.ended']));
    expect(built[1]?.payload).toEqual({
      ...BASE,
      ...POD,
      reason: 'exit-code',
      error: 'exit 3',
      exit_code: 3,
      to_retry: false,
    });
  });

  it('leave out a pod, an error and an exit code that are not there', () => {
    const payload = taskInterruptedEvent(REF, {
      reason: 'agent-not-started',
      namespace: 'runners',
      error: '',
      toRetry: true,
    }).payload;
    expect(payload).toEqual({ ...BASE, namespace: 'runners', reason: 'agent-not-started', to_retry: true });
  });

  it('refuse a reason that is not an EndReason', () => {
    expect(() => taskFailedEvent(REF, { ...end, reason: 'bored' as never })).toThrow(TaskEventError);
  });
});
