// Names and labels of the Kubernetes objects we own. Derived only from task id and
// attempt, so a second create of the same object is AlreadyExists, never a duplicate.
import { createHash } from 'node:crypto';

/** Our managed-by value: distinct from container-agent's, so neither collects the other's pods. */
export const MANAGED_BY = 'longshore';

export const Labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  taskId: 'longshore.io/task-id',
  attempt: 'longshore.io/attempt',
  resourceClass: 'longshore.io/resource-class',
} as const;

/** Annotations carry what labels cannot hold verbatim (label values are limited to 63 chars, no '/'). */
export const Annotations = {
  taskId: 'longshore.io/task-id',
  resourceClass: 'longshore.io/resource-class',
  /** When the task was claimed (ISO, ms): the start of the end-to-end stage, for any replica. */
  claimedAt: 'longshore.io/claimed-at',
  /** When the scheduler sent the pod's create (ISO, ms): the start of the `running` stage. */
  launchedAt: 'longshore.io/launched-at',
} as const;

/** Label selector that matches every object we own, and nothing else. */
export const MANAGED_SELECTOR = `${Labels.managedBy}=${MANAGED_BY}`;

/**
 * A resource class as a label value: label values allow [A-Za-z0-9_.-] only, so the
 * namespace/name slash becomes '.', as in the seeds' custom token Secret keys.
 */
export function resourceClassLabel(resourceClass: string): string {
  return resourceClass.replaceAll('/', '.');
}

/** Object name for a task attempt: `lsta-<12 hex of task id>-<attempt>`, stable and DNS-safe. */
export function taskObjectName(taskId: string, attempt: number): string {
  const h = createHash('sha256').update(taskId).digest('hex').slice(0, 12);
  return `lsta-${h}-${attempt}`;
}

/** Task ids are UUIDs at CircleCI; longer ones are hashed into label values' 63 chars. */
export function taskIdLabel(taskId: string): string {
  return /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(taskId)
    ? taskId
    : createHash('sha256').update(taskId).digest('hex').slice(0, 63);
}
