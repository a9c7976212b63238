// One simulated task: its record, the history events it collects, and the views the
// admin API shows. Views never carry task tokens or registry logins: history is for tests
// to read and print.
import type { ClaimRequest, TaskConfig } from '@longshore/contracts';
import type { ServiceContainerSpec, TaskSpec, TaskState } from './admin-schemas.ts';

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
  /** The primary container's docker executor keys; `auth` and `aws_auth` as `logins`. */
  entrypoint: string[] | undefined;
  command: string[] | undefined;
  user: string | undefined;
  working_directory: string;
  environment: Record<string, string>;
  service_containers: ContainerView[];
  /** Which containers (0 is the primary) have a registry login, and of which kind; never the login. */
  logins: Array<{ container: number; kind: 'auth' | 'aws_auth' }>;
  expect: string | undefined;
  config_override: Record<string, unknown> | undefined;
  claim_override: Record<string, unknown> | undefined;
  /** Allocation of the current (or last, once ended) claim. */
  allocation: string | undefined;
  created_at: string;
  history: TaskEvent[];
}

/** A service container as the admin API shows it: its keys without `auth` and `aws_auth`. */
export type ContainerView = Omit<ServiceContainerSpec, 'auth' | 'aws_auth'>;

function containerView(c: ServiceContainerSpec): ContainerView {
  const { auth: _auth, aws_auth: _awsAuth, ...view } = structuredClone(c);
  return view;
}

function loginsOf(spec: TaskSpec): TaskDetail['logins'] {
  return [spec, ...spec.service_containers].flatMap((c, container) => [
    ...(c.auth === undefined ? [] : [{ container, kind: 'auth' as const }]),
    ...(c.aws_auth === undefined ? [] : [{ container, kind: 'aws_auth' as const }]),
  ]);
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
    entrypoint: spec.entrypoint === undefined ? undefined : [...spec.entrypoint],
    command: spec.command === undefined ? undefined : [...spec.command],
    user: spec.user,
    working_directory: spec.working_directory,
    environment: { ...spec.environment },
    service_containers: spec.service_containers.map(containerView),
    logins: loginsOf(spec),
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

/**
 * The task config the simulator would serve without overrides: primary container first,
 * each with the docker executor keys it was given (a malformed `auth` included: the
 * runner is the one to refuse it).
 */
export function taskConfigOf(task: TaskRecord): TaskConfig {
  const { spec } = task;
  return {
    task_id: task.id,
    resource_class: spec.resource_class,
    job_name: spec.job_name,
    working_directory: spec.working_directory,
    containers: [
      { ...containerKeys(spec), image: spec.image, environment: { ...spec.environment } },
      ...spec.service_containers.map((c) => ({
        ...containerKeys(c),
        image: c.image,
        ...(c.name === undefined ? {} : { name: c.name }),
        environment: { ...c.environment },
      })),
    ],
    ssh_advertise_addr: spec.ssh_advertise_addr,
  };
}

/** The keys a container was given, copied, and none it was not. */
function containerKeys(
  c: Pick<ServiceContainerSpec, 'entrypoint' | 'command' | 'user' | 'auth' | 'aws_auth'>,
) {
  return structuredClone({
    ...(c.entrypoint === undefined ? {} : { entrypoint: c.entrypoint }),
    ...(c.command === undefined ? {} : { command: c.command }),
    ...(c.user === undefined ? {} : { user: c.user }),
    ...(c.auth === undefined ? {} : { auth: c.auth }),
    ...(c.aws_auth === undefined ? {} : { aws_auth: c.aws_auth }),
  });
}
