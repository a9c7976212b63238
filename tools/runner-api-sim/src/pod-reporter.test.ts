import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { agentReport } from './pod-reporter.ts';

const pod = (terminated: object | undefined, status: Partial<NonNullable<V1Pod['status']>> = {}): V1Pod => ({
  status: {
    ...status,
    containerStatuses: [
      {
        name: 'container-0',
        image: 'x',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: terminated ? { terminated: terminated as never } : { running: {} },
      },
    ],
  },
});

describe('agentReport', () => {
  it('reports success on exit 0 at the container finish time', () => {
    expect(
      agentReport(pod({ exitCode: 0, reason: 'Completed', finishedAt: new Date('2026-01-01T00:00:01Z') })),
    ).toEqual({ status: 'succeeded', finishedAt: new Date('2026-01-01T00:00:01Z') });
  });
  it('reports failure with the exit code', () => {
    expect(agentReport(pod({ exitCode: 2, reason: 'Error' }))).toMatchObject({
      status: 'failed',
      message: expect.stringContaining('code 2'),
    });
  });
  it('says nothing while the job runs, or when the container was killed from outside', () => {
    expect(agentReport(pod(undefined))).toBeUndefined();
    expect(agentReport(pod({ exitCode: 137, reason: 'ContainerStatusUnknown' }))).toBeUndefined();
    expect(agentReport(pod({ exitCode: 137, reason: 'Error' }, { reason: 'Evicted' }))).toBeUndefined();
    expect(
      agentReport(pod({ exitCode: 137, reason: 'Error' }, { reason: 'DeadlineExceeded' })),
    ).toBeUndefined();
    expect(
      agentReport(
        pod({ exitCode: 1, reason: 'Error' }, { conditions: [{ type: 'DisruptionTarget', status: 'True' }] }),
      ),
    ).toBeUndefined();
  });
});
