// Task events, each built in one place. A builder fills the fields every task event carries,
// leaves out the optional ones that say nothing (no node yet, no warnings, no exit code),
// checks the payload against its subject's schema, and gives the JetStream message id that
// makes the stream drop a repeat: one per task, attempt and event, and one `ended` per
// attempt whichever of reported, failed or interrupted comes first.
//
// Who publishes what: the claimer (claimed, released), the scheduler (scheduled, running,
// and the three endings), gc (claimed again for a claim without a pod, interrupted for a
// claim whose pod is gone).
import type { z } from 'zod';
import type { EndReason } from './events.ts';
import { type SubjectDef, Subjects } from './subjects.ts';

/** Which task, attempt and runner an event is about, in the ledger's (camelCase) terms. */
export interface TaskEventRef {
  readonly taskId: string;
  readonly resourceClass: string;
  readonly attempt: number;
  /** The runner the event names: the claim's holder, whoever publishes it. */
  readonly runner: string;
  /** When it happened; default now. */
  readonly at?: Date | string | undefined;
}

/** A built event: what `bus.publish(subject, payload, { msgId })` takes. */
export interface TaskEvent<D extends SubjectDef> {
  readonly subject: D;
  readonly payload: z.output<D['schema']>;
  readonly msgId: string;
}

/** A task event's fields do not fit its schema (an empty task id, a non-positive attempt, ...). */
export class TaskEventError extends Error {
  override readonly name = 'TaskEventError';
}

/** JetStream message id of a task event: one per task, attempt and event, so retries dedupe. */
export function taskMsgId(taskId: string, attempt: number, event: string): string {
  return `${taskId}.${attempt}.${event}`;
}

/** task.claimed: the claimer holds the task, the scheduler is to make its pod. */
export function taskClaimedEvent(
  ref: TaskEventRef,
  claim: { readonly allocation: string },
): TaskEvent<typeof Subjects.taskClaimed> {
  return build(Subjects.taskClaimed, ref, 'claimed', { allocation: claim.allocation });
}

/** task.released: the claimer gave an interrupted task back for another attempt. */
export function taskReleasedEvent(
  ref: TaskEventRef,
  release: { readonly reason: string; readonly retriesUsed: number },
): TaskEvent<typeof Subjects.taskReleased> {
  return build(Subjects.taskReleased, ref, 'released', {
    reason: release.reason,
    retries_used: release.retriesUsed,
  });
}

export interface TaskPodRef {
  readonly pod: string;
  readonly namespace: string;
}

/** task.scheduled: the task's pod exists; `warnings` are what it could not give the job as asked. */
export function taskScheduledEvent(
  ref: TaskEventRef,
  pod: TaskPodRef & { readonly warnings?: readonly string[] | undefined },
): TaskEvent<typeof Subjects.taskScheduled> {
  return build(Subjects.taskScheduled, ref, 'scheduled', {
    pod: pod.pod,
    namespace: pod.namespace,
    ...(pod.warnings !== undefined && pod.warnings.length > 0 ? { warnings: [...pod.warnings] } : {}),
  });
}

/** task.running: the task's pod runs, on `node` when the apiserver says which. */
export function taskRunningEvent(
  ref: TaskEventRef,
  pod: TaskPodRef & { readonly node?: string | undefined },
): TaskEvent<typeof Subjects.taskRunning> {
  return build(Subjects.taskRunning, ref, 'running', {
    pod: pod.pod,
    namespace: pod.namespace,
    ...(pod.node ? { node: pod.node } : {}),
  });
}

/** How a task ended (TaskEnded in camelCase); pod and namespace are absent when it never had a pod. */
export interface TaskEnd {
  readonly reason: EndReason;
  readonly pod?: string | undefined;
  readonly namespace?: string | undefined;
  readonly error?: string | undefined;
  readonly exitCode?: number | undefined;
  /** Whether the task will be released for another attempt. */
  readonly toRetry: boolean;
}

/** task.reported: the orchestrator exited 0, having reported the task's end itself. */
export function taskReportedEvent(ref: TaskEventRef, end: TaskEnd): TaskEvent<typeof Subjects.taskReported> {
  return ended(Subjects.taskReported, ref, end);
}

/** task.failed: the task ended in a way that will not be retried (rejected pod, non-zero exit, ...). */
export function taskFailedEvent(ref: TaskEventRef, end: TaskEnd): TaskEvent<typeof Subjects.taskFailed> {
  return ended(Subjects.taskFailed, ref, end);
}

/** task.interrupted: the task was cut short by something outside it (its pod lost, never started, ...). */
export function taskInterruptedEvent(
  ref: TaskEventRef,
  end: TaskEnd,
): TaskEvent<typeof Subjects.taskInterrupted> {
  return ended(Subjects.taskInterrupted, ref, end);
}

function ended<
  D extends typeof Subjects.taskReported | typeof Subjects.taskFailed | typeof Subjects.taskInterrupted,
>(subject: D, ref: TaskEventRef, end: TaskEnd): TaskEvent<D> {
  // One id for the three endings: the first one published is the attempt's end.
  return build(subject, ref, 'ended', {
    ...(end.pod ? { pod: end.pod } : {}),
    ...(end.namespace ? { namespace: end.namespace } : {}),
    reason: end.reason,
    ...(end.error ? { error: end.error } : {}),
    ...(end.exitCode === undefined ? {} : { exit_code: end.exitCode }),
    to_retry: end.toRetry,
  });
}

function build<D extends SubjectDef>(
  subject: D,
  ref: TaskEventRef,
  event: string,
  fields: Record<string, unknown>,
): TaskEvent<D> {
  const at = ref.at === undefined ? new Date() : ref.at;
  const r = subject.schema.safeParse({
    task_id: ref.taskId,
    resource_class: ref.resourceClass,
    attempt: ref.attempt,
    runner: ref.runner,
    at: at instanceof Date ? at.toISOString() : at,
    ...fields,
  });
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new TaskEventError(`${subject.name} event for task ${ref.taskId}: ${issues.join('; ')}`, {
      cause: r.error,
    });
  }
  return {
    subject,
    payload: r.data as z.output<D['schema']>,
    msgId: taskMsgId(ref.taskId, ref.attempt, event),
  };
}
