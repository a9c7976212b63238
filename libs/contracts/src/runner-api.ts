// Wire shapes of the CircleCI-compatible Runner API (DESIGN.md, "Runner API").
// Both our client and tools/runner-api-sim validate with these, so the two cannot drift.
import { z } from 'zod';

/** POST /api/v3/runner/claim request body. */
export const ClaimRequest = z.object({
  name: z.string().min(1),
  hostname: z.string(),
  ip: z.string(),
  version: z.string(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;

/** POST /api/v3/runner/claim, 200 response. (204 means no work.) */
export const ClaimResponse = z.object({
  task_token: z.string().min(1),
  agent_version: z.string(),
  resource_class: z.string().min(1),
  allocation: z.string().min(1),
});
export type ClaimResponse = z.infer<typeof ClaimResponse>;

/** One container of a job: index 0 is the primary container, the rest are service containers. */
export const JobContainer = z.object({
  image: z.string().min(1),
  name: z.string().optional(),
  entrypoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  user: z.string().optional(),
  environment: z.record(z.string(), z.string()).default({}),
});
export type JobContainer = z.infer<typeof JobContainer>;

/**
 * GET /api/v2/task/config response. CircleCI does not publish this shape; this is ours,
 * kept close to what the task pod needs (docs/contracts.md describes every field).
 */
export const TaskConfig = z.object({
  task_id: z.string().min(1),
  resource_class: z.string().min(1),
  job_name: z.string().default('build'),
  /** Shell command the task agent runs (what `orchestrator run-task` hands to the agent). */
  cmd: z.array(z.string()).default([]),
  working_directory: z.string().default('~/project'),
  containers: z.array(JobContainer).min(1, 'a task needs at least its primary container'),
  /** Where the orchestrator should advertise SSH for "rerun with SSH"; empty when off. */
  ssh_advertise_addr: z.string().default(''),
});
export type TaskConfig = z.infer<typeof TaskConfig>;

/** POST /api/v3/runner/unclaim body. 404 = task cancelled, 409 = retries exhausted. */
export const UnclaimRequest = z.object({ task_id: z.string().min(1), task_token: z.string().min(1) });
export type UnclaimRequest = z.infer<typeof UnclaimRequest>;

/** POST /api/v2/task/event/fail body. `message` is base64 of the UTF-8 text. */
export const FailEvent = z.object({
  allocation: z.string().min(1),
  timestamp: z.number().int().nonnegative(),
  message: z.base64(),
});
export type FailEvent = z.infer<typeof FailEvent>;

/** GET /api/v3/runner/tasks?resource-class= */
export const UnclaimedCount = z.object({ unclaimed_task_count: z.number().int().nonnegative() });
export type UnclaimedCount = z.infer<typeof UnclaimedCount>;

/** GET /api/v3/runner/tasks/running?resource-class= */
export const RunningCount = z.object({ running_runner_tasks: z.number().int().nonnegative() });
export type RunningCount = z.infer<typeof RunningCount>;

export const RunnerApiPaths = {
  claim: '/api/v3/runner/claim',
  unclaim: '/api/v3/runner/unclaim',
  taskConfig: '/api/v2/task/config',
  fail: '/api/v2/task/event/fail',
  unclaimedCount: '/api/v3/runner/tasks',
  runningCount: '/api/v3/runner/tasks/running',
} as const;

/** Resource class names are `<namespace>/<name>`, as CircleCI spells them. */
export const ResourceClassName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*\/[a-z0-9][a-z0-9_.-]*$/i, 'resource class must look like <namespace>/<name>');
