// What a task pod's state means for its task: still starting, running, or ended and why.
// Pure, so every ending the issue lists is tested directly against pod objects.
//
// Container 0 runs CircleCI's orchestrator (circleci/runner-init), and its exit code is not
// the job's result. The orchestrator exits 0 after the task agent ran to its end (having
// reported the job, passed or failed), and also after it failed the task itself (a fail
// event) or gave it back (an unclaim); its container shows `Completed` in every case and
// writes no termination message. It exits non-zero only when an error was left unhandled:
// its fail event (and its unclaim, where it tried one) failed, or it could not set itself up
// (root certificates, its health endpoint), or it was killed (OOMKilled, a signal). So exit
// 0 is `reported`, which says what is known and no more, and a non-zero exit is an
// interruption the runner must report, as the orchestrator would have: an unclaim where
// unsafe retries are on, else a fail event.
import type { V1ContainerStatus, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import { type EndReason, PRIMARY_CONTAINER } from '@longshore/contracts';

export type PodState =
  | { kind: 'pending' }
  | { kind: 'running'; node: string | undefined }
  | {
      kind: 'ended';
      /**
       * `reported`: the pod reported the task's end itself (the orchestrator exited 0); the
       * runner reports `failed` and `interrupted` endings.
       */
      outcome: 'reported' | 'failed' | 'interrupted';
      reason: EndReason;
      error?: string;
      exitCode?: number;
    };

/** Container 0 exited 0: the pod reported the task's end; what it reported is not known here. */
const REPORTED = {
  kind: 'ended',
  outcome: 'reported',
  reason: 'reported-in-pod',
  exitCode: 0,
} as const satisfies PodState;

export interface ClassifyOptions {
  now: Date;
  /** A pod that cannot pull its image for this long fails. */
  imagePullTimeoutMs: number;
  /** A pod the scheduler cannot place for this long fails. */
  unschedulableTimeoutMs: number;
}

/** Waiting reasons no retry will cure: fail at once. */
const HOPELESS_IMAGE = new Set(['InvalidImageName', 'ErrImageNeverPull']);
const PULLING_FAILED = new Set(['ErrImagePull', 'ImagePullBackOff']);

const primary = (pod: V1Pod): V1ContainerStatus | undefined =>
  pod.status?.containerStatuses?.find((c) => c.name === PRIMARY_CONTAINER) ??
  pod.status?.containerStatuses?.[0];

const condition = (pod: V1Pod, type: string): V1PodCondition | undefined =>
  pod.status?.conditions?.find((c) => c.type === type);

const since = (t: Date | string | undefined, now: Date): number =>
  t === undefined ? 0 : now.getTime() - new Date(t).getTime();

/** Why Kubernetes disrupted a pod, from its DisruptionTarget condition's reason. */
function disruptionReason(reason: string | undefined): EndReason {
  switch (reason) {
    case 'PreemptionByScheduler':
      return 'preempted';
    case 'TerminationByKubelet':
    case 'EvictionByEvictionAPI':
      return 'evicted';
    case 'DeletionByTaintManager':
    case 'DeletionByPodGC':
      return 'node-lost';
    default:
      return 'disruption';
  }
}

export function classifyPod(pod: V1Pod, opts: ClassifyOptions): PodState {
  const c0 = primary(pod);
  const phase = pod.status?.phase;
  const disruption = condition(pod, 'DisruptionTarget');
  const message = pod.status?.message;

  // Kubernetes took the pod away: an interruption, whatever the container's exit code says.
  if (disruption?.status === 'True' && (phase === 'Failed' || c0?.state?.terminated)) {
    const reason = disruptionReason(disruption.reason);
    return { kind: 'ended', outcome: 'interrupted', reason, error: disruption.message ?? message ?? reason };
  }
  if (pod.status?.reason === 'Evicted') {
    return { kind: 'ended', outcome: 'interrupted', reason: 'evicted', error: message ?? 'pod evicted' };
  }
  if (pod.status?.reason === 'DeadlineExceeded') {
    return {
      kind: 'ended',
      outcome: 'failed',
      reason: 'deadline-exceeded',
      error: `task ran longer than its maximum run time (${message ?? 'DeadlineExceeded'})`,
    };
  }
  // The task agent is injected by the init container: if that failed, the agent never ran.
  const init = pod.status?.initContainerStatuses?.find((s) => (s.state?.terminated?.exitCode ?? 0) !== 0);
  if (init) {
    return {
      kind: 'ended',
      outcome: 'interrupted',
      reason: 'agent-not-started',
      error: `init container ${init.name} exited with code ${init.state?.terminated?.exitCode}`,
    };
  }
  const t = c0?.state?.terminated;
  if (t) {
    if (t.exitCode === 0) return REPORTED;
    return {
      kind: 'ended',
      outcome: 'interrupted',
      reason: 'exit-code',
      exitCode: t.exitCode,
      // The kubelet's reason (Error, OOMKilled) but not its message: with
      // FallbackToLogsOnError that is the tail of the job's own output.
      error:
        `the task orchestrator (container 0) exited with code ${t.exitCode}` +
        `${t.reason ? ` (${t.reason})` : ''}: it could not report the task's end`,
    };
  }
  // Every container exited 0, container 0 among them.
  if (phase === 'Succeeded') return REPORTED;
  if (phase === 'Failed') {
    return {
      kind: 'ended',
      outcome: 'interrupted',
      reason: 'agent-not-started',
      error: message ?? 'pod failed before the task agent started',
    };
  }

  const waiting = c0?.state?.waiting;
  if (waiting?.reason && HOPELESS_IMAGE.has(waiting.reason)) {
    return imagePull(waiting.reason, waiting.message);
  }
  if (waiting?.reason && PULLING_FAILED.has(waiting.reason)) {
    const scheduledAt = condition(pod, 'PodScheduled')?.lastTransitionTime ?? pod.status?.startTime;
    if (since(scheduledAt, opts.now) >= opts.imagePullTimeoutMs)
      return imagePull(waiting.reason, waiting.message);
    return { kind: 'pending' };
  }
  const scheduled = condition(pod, 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    const waited = since(scheduled.lastTransitionTime ?? pod.metadata?.creationTimestamp, opts.now);
    if (waited >= opts.unschedulableTimeoutMs) {
      return {
        kind: 'ended',
        outcome: 'failed',
        reason: 'unschedulable',
        error: `task pod could not be scheduled: ${scheduled.message ?? 'no node fits'}`,
      };
    }
    return { kind: 'pending' };
  }
  if (phase === 'Running' || c0?.state?.running) return { kind: 'running', node: pod.spec?.nodeName };
  return { kind: 'pending' };
}

function imagePull(reason: string, message: string | undefined): PodState {
  return {
    kind: 'ended',
    outcome: 'failed',
    reason: 'image-pull',
    error: `could not pull the task image (${reason})${message ? `: ${message}` : ''}`,
  };
}
