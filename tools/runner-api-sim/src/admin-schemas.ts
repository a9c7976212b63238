// Request bodies of the simulator's admin API (/sim/...). The Runner API side uses the
// shared wire schemas from @longshore/contracts; these are the simulator's own.
import { ResourceClassName } from '@longshore/contracts';
import { z } from 'zod';

const Environment = z.record(z.string(), z.string());

export const RegisterClassRequest = z.object({
  name: ResourceClassName,
  tokens: z.array(z.string().min(1, 'a token must not be empty')).min(1, 'a class needs at least one token'),
});
export type RegisterClassRequest = z.infer<typeof RegisterClassRequest>;

export const ApiTokenRequest = z.object({ token: z.string().min(1) });

/**
 * CircleCI's docker executor keys of a container, served in the task config as they are
 * given (the shared TaskConfig schema is the runner's to apply). Loose on purpose beyond
 * their types: a test sends a malformed `auth` here to see a runner refuse it.
 */
const ContainerKeys = {
  entrypoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  user: z.string().optional(),
  /** A docker login for the image's registry. */
  auth: z.object({ username: z.string(), password: z.string() }).optional(),
  /** An ECR login: access keys, or a role to assume. */
  aws_auth: z
    .object({
      aws_access_key_id: z.string().optional(),
      aws_secret_access_key: z.string().optional(),
      oidc_role_arn: z.string().optional(),
    })
    .optional(),
};

export const ServiceContainerSpec = z.object({
  image: z.string().min(1),
  name: z.string().min(1).optional(),
  environment: Environment.optional(),
  ...ContainerKeys,
});
export type ServiceContainerSpec = z.infer<typeof ServiceContainerSpec>;

/** Benchmarks enqueue thousands at once; the cap only guards against typos like 1e9. */
export const MAX_ENQUEUE_COUNT = 100_000;

/**
 * Keys that replace the served answer's keys, taken as given: this is how a test makes
 * the simulator answer as a hostile or broken Runner API does (an odd task id, 500
 * containers, a claim for another class). Never validated beyond being a JSON object.
 */
const Override = z.record(z.string(), z.unknown());

export const EnqueueRequest = z.object({
  resource_class: ResourceClassName,
  image: z.string().min(1),
  service_containers: z.array(ServiceContainerSpec).default([]),
  environment: Environment.default({}),
  /** The primary container's entrypoint, command, user and registry login. */
  ...ContainerKeys,
  job_name: z.string().min(1).default('build'),
  working_directory: z.string().min(1).default('~/project'),
  ssh_advertise_addr: z.string().default(''),
  /** Free-form label of how the test expects the task to end; stored, never interpreted. */
  expect: z.string().optional(),
  /** When present, enqueue this many identical tasks and answer with `task_ids`. */
  count: z.number().int().min(1).max(MAX_ENQUEUE_COUNT).optional(),
  /** Replaces keys of the task config GET /api/v2/task/config serves (`task_id` included). */
  config_override: Override.optional(),
  /**
   * Replaces keys of each claim response. A string `task_token` or `allocation` given here
   * becomes the claim's own: the simulator then takes it back as a real API would.
   */
  claim_override: Override.optional(),
});
/** What callers send (defaults may be left out). */
export type EnqueueInput = z.input<typeof EnqueueRequest>;
export type TaskSpec = Omit<z.infer<typeof EnqueueRequest>, 'count'>;

export const TASK_STATES = ['queued', 'claimed', 'completed', 'failed', 'cancelled'] as const;
export const TaskState = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskState>;

export const TaskListQuery = z.object({
  resource_class: z.string().min(1).optional(),
  state: TaskState.optional(),
});
export type TaskListQuery = z.infer<typeof TaskListQuery>;

/** The in-pod task agent's completion report (the simulator plays the orchestrator's part). */
export const ReportRequest = z.object({
  task_token: z.string().min(1),
  status: z.enum(['succeeded', 'failed']),
  message: z.string().optional(),
});
export type ReportRequest = z.infer<typeof ReportRequest>;
