// The scheduled event, published by the launcher after it creates a pod and by the pod
// tracker when it first sees one (whoever created it may have died first). Both use the
// same message id, so JetStream keeps one.
import type { Bus } from '@longshore/bus';
import { Subjects, taskMsgId } from '@longshore/contracts';
import type { SchedulerSettings } from './settings.ts';

export interface ScheduledTask {
  taskId: string;
  resourceClass: string;
  attempt: number;
  pod: string;
  /** What the pod could not give the job as asked (buildTaskPod's warnings). */
  warnings?: readonly string[];
}

export async function announceScheduled(
  bus: Bus,
  settings: SchedulerSettings,
  t: ScheduledTask,
): Promise<void> {
  await bus.publish(
    Subjects.taskScheduled,
    {
      task_id: t.taskId,
      resource_class: t.resourceClass,
      attempt: t.attempt,
      runner: settings.runnerName,
      at: new Date().toISOString(),
      pod: t.pod,
      namespace: settings.namespace,
      ...(t.warnings !== undefined && t.warnings.length > 0 ? { warnings: [...t.warnings] } : {}),
    },
    { msgId: taskMsgId(t.taskId, t.attempt, 'scheduled') },
  );
}
