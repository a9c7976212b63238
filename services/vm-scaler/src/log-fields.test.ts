import { describe, expect, it } from 'vitest';
import { errFields } from './log-fields.ts';
import { RunnerQueueError } from './runner-queue.ts';

describe('errFields', () => {
  it('logs an expected failure by name, kind, message and status only', () => {
    const err = new RunnerQueueError('status', 'GET /api/v3/runner/tasks: HTTP 503', {
      status: 503,
      cause: new Error('raw exchange with headers'),
    });
    expect(errFields(err)).toEqual({
      error: {
        type: 'RunnerQueueError',
        kind: 'status',
        message: 'GET /api/v3/runner/tasks: HTTP 503',
        status: 503,
      },
    });
  });

  it('passes anything else through whole, for the logger to serialize with its stack', () => {
    const bug = new TypeError('x is undefined');
    expect(errFields(bug)).toEqual({ err: bug });
  });
});
