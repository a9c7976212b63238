import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { fateOf, inPodEnding } from './pod-reporter.ts';

const FINISHED = new Date('2026-01-01T00:00:01Z');

const pod = (
  image: string,
  terminated: object | undefined,
  status: Partial<NonNullable<V1Pod['status']>> = {},
): V1Pod => ({
  spec: { containers: [{ name: 'container-0', image }] },
  status: {
    ...status,
    containerStatuses: [
      {
        name: 'container-0',
        image,
        imageID: '',
        ready: false,
        restartCount: 0,
        state: terminated ? { terminated: terminated as never } : { running: {} },
      },
    ],
  },
});
const exited0 = (image: string) => pod(image, { exitCode: 0, reason: 'Completed', finishedAt: FINISHED });

describe('inPodEnding: the orchestrator and task agent as runner-init shows them', () => {
  it('a job that ran: the task agent reports it completed, at the container finish time', () => {
    for (const image of ['fate.test/succeed:1s', 'cimg/base:current']) {
      expect(inPodEnding(exited0(image))).toEqual({
        kind: 'agent-report',
        status: 'succeeded',
        finishedAt: FINISHED,
      });
    }
  });

  it('a job whose steps fail: the task agent reports the failure, and container 0 still exits 0', () => {
    expect(inPodEnding(exited0('fate.test/job-fail:1s'))).toMatchObject({
      kind: 'agent-report',
      status: 'failed',
      message: expect.stringContaining('job failed'),
    });
  });

  it('a task agent that errs or cannot start: the orchestrator handles it (retryable only when it could not start)', () => {
    expect(inPodEnding(exited0('fate.test/agent-error:1s'))).toMatchObject({
      kind: 'orchestrator-error',
      retryable: false,
    });
    expect(inPodEnding(exited0('fate.test/agent-start-fail:1s'))).toMatchObject({
      kind: 'orchestrator-error',
      retryable: true,
    });
  });

  it('an orchestrator that exited non-zero reported nothing: it could not', () => {
    expect(inPodEnding(pod('fate.test/exit-2:1s', { exitCode: 2, reason: 'Error' }))).toBeUndefined();
    expect(inPodEnding(pod('fate.test/succeed:1s', { exitCode: 137, reason: 'OOMKilled' }))).toBeUndefined();
  });

  it('says nothing while the job runs, or when the pod was stopped from outside', () => {
    expect(inPodEnding(pod('fate.test/succeed:1s', undefined))).toBeUndefined();
    expect(inPodEnding(pod('x', { exitCode: 137, reason: 'ContainerStatusUnknown' }))).toBeUndefined();
    expect(inPodEnding(pod('x', { exitCode: 137, reason: 'Error' }, { reason: 'Evicted' }))).toBeUndefined();
    expect(
      inPodEnding(pod('x', { exitCode: 137, reason: 'Error' }, { reason: 'DeadlineExceeded' })),
    ).toBeUndefined();
    expect(
      inPodEnding(
        pod(
          'x',
          { exitCode: 0, reason: 'Completed' },
          { conditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ),
      ),
    ).toBeUndefined();
  });
});

describe('fateOf', () => {
  it('reads the fate a test bed image names', () => {
    expect(fateOf('fate.test/agent-start-fail:2s')).toBe('agent-start-fail');
    expect(fateOf('fate.test/exit-3:1s')).toBe('exit');
    expect(fateOf('cimg/base:current')).toBeUndefined();
    expect(fateOf(undefined)).toBeUndefined();
  });
});
