import type { V1Pod } from '@kubernetes/client-node';
import { runnerMustReport } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { classifyPod } from './classify.ts';

const now = new Date('2026-01-01T00:10:00Z');
const opts = { now, imagePullTimeoutMs: 60_000, unschedulableTimeoutMs: 300_000 };
const c0 = (state: object) => ({
  name: 'container-0',
  image: 'x',
  imageID: '',
  ready: false,
  restartCount: 0,
  state,
});
const pod = (status: V1Pod['status'], spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name: 'p', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
  spec: { containers: [{ name: 'container-0' }], ...spec },
  status,
});

describe('classifyPod', () => {
  it('is pending before the pod runs, and running with its node once it does', () => {
    expect(classifyPod(pod({ phase: 'Pending' }), opts)).toEqual({ kind: 'pending' });
    expect(
      classifyPod(
        pod({ phase: 'Running', containerStatuses: [c0({ running: {} })] }, { nodeName: 'n1' }),
        opts,
      ),
    ).toEqual({ kind: 'running', node: 'n1' });
  });

  // circleci/runner-init's orchestrator is container 0's process: it exits 0 after the task
  // agent reported the job (passed or failed) and after it failed the task or gave it back
  // itself, and non-zero only when it could not report. Exit 0 is never a success here.
  it("exit 0 of container 0: the pod reported the task's end itself, whatever the job did", () => {
    const ended = classifyPod(
      pod({
        phase: 'Succeeded',
        containerStatuses: [c0({ terminated: { exitCode: 0, reason: 'Completed' } })],
      }),
      opts,
    );
    expect(ended).toEqual({ kind: 'ended', outcome: 'reported', reason: 'reported-in-pod', exitCode: 0 });
    expect(runnerMustReport('reported-in-pod')).toBe(false);
    // A pod that Succeeded with no container status left: every container exited 0.
    expect(classifyPod(pod({ phase: 'Succeeded' }), opts)).toMatchObject({
      outcome: 'reported',
      reason: 'reported-in-pod',
    });
  });

  it('calls container 0 finishing the end even while service containers still run', () => {
    const p = pod({
      phase: 'Running',
      containerStatuses: [c0({ terminated: { exitCode: 0 } }), { ...c0({ running: {} }), name: 'postgres' }],
    });
    expect(classifyPod(p, opts)).toMatchObject({ outcome: 'reported', reason: 'reported-in-pod' });
  });

  it('a non-zero exit: the orchestrator could not report (its fail event failed), so the runner must', () => {
    const ended = classifyPod(
      pod({ phase: 'Failed', containerStatuses: [c0({ terminated: { exitCode: 1, reason: 'Error' } })] }),
      opts,
    );
    expect(ended).toEqual({
      kind: 'ended',
      outcome: 'interrupted',
      reason: 'exit-code',
      exitCode: 1,
      error:
        "the task orchestrator (container 0) exited with code 1 (Error): it could not report the task's end",
    });
    expect(runnerMustReport('exit-code')).toBe(true);
  });

  it("an orchestrator killed (OOMKilled) is a non-zero exit too, and the kubelet's message is not repeated", () => {
    const ended = classifyPod(
      pod({
        phase: 'Failed',
        containerStatuses: [
          c0({ terminated: { exitCode: 137, reason: 'OOMKilled', message: 'last lines of the job output' } }),
        ],
      }),
      opts,
    );
    expect(ended).toMatchObject({ outcome: 'interrupted', reason: 'exit-code', exitCode: 137 });
    expect(ended.kind === 'ended' && ended.error).toContain('code 137 (OOMKilled)');
    expect(ended.kind === 'ended' && ended.error).not.toContain('job output');
  });

  it('classifies evictions, preemptions, node loss and other disruptions as interruptions', () => {
    const disrupted = (reason: string) =>
      pod({
        phase: 'Failed',
        conditions: [{ type: 'DisruptionTarget', status: 'True', reason, message: `because ${reason}` }],
        containerStatuses: [c0({ terminated: { exitCode: 137 } })],
      });
    expect(classifyPod(disrupted('TerminationByKubelet'), opts)).toMatchObject({
      outcome: 'interrupted',
      reason: 'evicted',
    });
    expect(classifyPod(disrupted('EvictionByEvictionAPI'), opts)).toMatchObject({ reason: 'evicted' });
    expect(classifyPod(disrupted('PreemptionByScheduler'), opts)).toMatchObject({ reason: 'preempted' });
    expect(classifyPod(disrupted('DeletionByTaintManager'), opts)).toMatchObject({ reason: 'node-lost' });
    expect(classifyPod(disrupted('DeletionByPodGC'), opts)).toMatchObject({ reason: 'node-lost' });
    expect(classifyPod(disrupted('SomethingNew'), opts)).toMatchObject({ reason: 'disruption' });
    expect(
      classifyPod(pod({ phase: 'Failed', reason: 'Evicted', message: 'low memory' }), opts),
    ).toMatchObject({
      outcome: 'interrupted',
      reason: 'evicted',
      error: 'low memory',
    });
  });

  it('fails a task that outlived its deadline', () => {
    expect(classifyPod(pod({ phase: 'Failed', reason: 'DeadlineExceeded' }), opts)).toMatchObject({
      outcome: 'failed',
      reason: 'deadline-exceeded',
    });
  });

  it('interrupts a pod whose agent never started (init container failed, or failed before running)', () => {
    expect(
      classifyPod(
        pod({
          phase: 'Failed',
          initContainerStatuses: [{ ...c0({ terminated: { exitCode: 1 } }), name: 'circleci-init' }],
        }),
        opts,
      ),
    ).toMatchObject({ outcome: 'interrupted', reason: 'agent-not-started' });
    expect(classifyPod(pod({ phase: 'Failed' }), opts)).toMatchObject({ reason: 'agent-not-started' });
  });

  it('fails an invalid image at once, and a failing pull after the timeout', () => {
    expect(
      classifyPod(
        pod({ phase: 'Pending', containerStatuses: [c0({ waiting: { reason: 'InvalidImageName' } })] }),
        opts,
      ),
    ).toMatchObject({ outcome: 'failed', reason: 'image-pull' });
    const pulling = (at: string) =>
      pod({
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date(at) }],
        containerStatuses: [c0({ waiting: { reason: 'ErrImagePull', message: 'not found' } })],
      });
    expect(classifyPod(pulling('2026-01-01T00:09:30Z'), opts)).toEqual({ kind: 'pending' });
    expect(classifyPod(pulling('2026-01-01T00:08:00Z'), opts)).toMatchObject({
      reason: 'image-pull',
      error: expect.stringContaining('not found'),
    });
  });

  it('fails a pod that cannot be scheduled for too long', () => {
    const unschedulable = (at: string) =>
      pod({
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/8 nodes',
            lastTransitionTime: new Date(at),
          },
        ],
      });
    expect(classifyPod(unschedulable('2026-01-01T00:09:00Z'), opts)).toEqual({ kind: 'pending' });
    expect(classifyPod(unschedulable('2026-01-01T00:01:00Z'), opts)).toMatchObject({
      outcome: 'failed',
      reason: 'unschedulable',
      error: expect.stringContaining('0/8 nodes'),
    });
  });
});
