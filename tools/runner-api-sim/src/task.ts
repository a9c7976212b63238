// One simulated task: its record, the history events it collects, and the views the
// admin API shows. Views never carry task tokens: history is for tests to read and print.
import type { ClaimRequest, TaskConfig } from '@longshore/contracts';
import type { TaskSpec, TaskState } from './admin-schemas.ts';

/** What happened, without the time; the state adds `at` when it records the event. */
export type TaskEventBody =
  | { type: 'queued' }
  | { type: 'claimed'; runner: ClaimRequest; allocation: string }
  | { type: 'config-fetched'; allocation: string }
  | { type: 'unclaimed'; allocation: string; unclaims: number }
  | { type: 'unclaim-rejected'; allocation: string; status: 404 | 409; reason: string }
  | {
      type: 'failed';
      allocation: string;
      message: string;
      source: 'fail-event' | 'report';
      timestamp?: number;
    }
  | { type: 'completed'; allocation: string; message?: string }
  | { type: 'cancelled'; from: 'queued' | 'claimed' }
  | { type: 'claim-expired'; allocation: string };
export type TaskEvent = TaskEventBody & { at: string };
export type TaskEventType = TaskEvent['type'];

/** The claim a task is under. It stays on the task after the task ends so that late calls
 * with that claim's token get a meaningful answer (404 cancelled, 409 ended), not 403. */
export interface Claim {
  token: string;
  allocation: string;
  claimedAt: number;
  /** The runner fetched the task config: it demonstrably received the claim. */
  confirmed: boolean;
}

export interface TaskRecord {
  id: string;
  spec: TaskSpec;
  state: TaskState;
  claims: number;
  unclaims: number;
  claim: Claim | undefined;
  createdAt: string;
  history: TaskEvent[];
}

export interface TaskSummary {
  id: string;
  resource_class: string;
  state: TaskState;
  claims: number;
  unclaims: number;
  image: string;
}

export interface TaskDetail extends TaskSummary {
  /** The task id its task config serves: `config_override.task_id` when a string, else `id`. */
  served_task_id: string;
  job_name: string;
  cmd: string[];
  working_directory: string;
  environment: Record<string, string>;
  service_containers: TaskSpec['service_containers'];
  expect: string | undefined;
  config_override: Record<string, unknown> | undefined;
  claim_override: Record<string, unknown> | undefined;
  /** Allocation of the current (or last, once ended) claim. */
  allocation: string | undefined;
  created_at: string;
  history: TaskEvent[];
}

export function summarize(task: TaskRecord): TaskSummary {
  return {
    id: task.id,
    resource_class: task.spec.resource_class,
    state: task.state,
    claims: task.claims,
    unclaims: task.unclaims,
    image: task.spec.image,
  };
}

export function describe(task: TaskRecord): TaskDetail {
  const { spec } = task;
  return {
    ...summarize(task),
    job_name: spec.job_name,
    cmd: [...spec.cmd],
    working_directory: spec.working_directory,
    environment: { ...spec.environment },
    service_containers: spec.service_containers.map((c) => ({ ...c })),
    expect: spec.expect,
    config_override: spec.config_override === undefined ? undefined : structuredClone(spec.config_override),
    claim_override: spec.claim_override === undefined ? undefined : structuredClone(spec.claim_override),
    served_task_id: servedTaskId(task),
    allocation: task.claim?.allocation,
    created_at: task.createdAt,
    history: task.history.map((e) => ({ ...e })),
  };
}

/** A task config as served: TaskConfig unless a test's `config_override` made it something else. */
export type ServedTaskConfig = Record<string, unknown>;

/** The task config a runner receives, with the test's overrides (if any) on top. */
export function servedTaskConfig(task: TaskRecord): ServedTaskConfig {
  const override = task.spec.config_override;
  return override === undefined
    ? taskConfigOf(task)
    : { ...taskConfigOf(task), ...structuredClone(override) };
}

/** The id the task config serves; a runner names the task by it (unclaim, the agent's report). */
export function servedTaskId(task: TaskRecord): string {
  const id = task.spec.config_override?.task_id;
  return typeof id === 'string' ? id : task.id;
}

/** The task config the simulator would serve without overrides: primary container first. */
export function taskConfigOf(task: TaskRecord): TaskConfig {
  const { spec } = task;
  return {
    task_id: task.id,
    resource_class: spec.resource_class,
    job_name: spec.job_name,
    cmd: [...spec.cmd],
    working_directory: spec.working_directory,
    containers: [
      { image: spec.image, environment: { ...spec.environment } },
      ...spec.service_containers.map((c) => ({
        image: c.image,
        ...(c.name === undefined ? {} : { name: c.name }),
        environment: { ...c.environment },
      })),
    ],
    ssh_advertise_addr: spec.ssh_advertise_addr,
  };
}
