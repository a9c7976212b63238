// The scheduled event, published by the launcher after it creates a pod and by the pod
// tracker when it first sees one (whoever created it may have died first). Both use the
// same message id, so JetStream keeps one.
import type { Bus } from '@longshore/bus';
import { taskScheduledEvent } from '@longshore/contracts';
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
  const ev = taskScheduledEvent(
    { ...t, runner: settings.runnerName },
    { pod: t.pod, namespace: settings.namespace, warnings: t.warnings },
  );
  await bus.publish(ev.subject, ev.payload, { msgId: ev.msgId });
}
