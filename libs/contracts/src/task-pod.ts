// The contract between a task pod and whoever reads it: container-agent 3.1+'s layout as
// far as CircleCI's public runner-init image shows (DESIGN.md, "Task pod"). The scheduler
// writes it; the simulator, playing the in-pod task agent, reads the token back from it.
import { z } from 'zod';

/** Container 0, which runs the job's image with the orchestrator as its command. */
export const PRIMARY_CONTAINER = 'container-0';
/** Env var of container 0 holding the orchestrator's settings as one JSON document. */
export const GOAT_CONFIG_ENV = 'CIRCLECI_GOAT_CONFIG';
/** Key of the per-task Secret that holds that JSON document. */
export const GOAT_CONFIG_SECRET_KEY = 'goat-config';

/**
 * Annotation of a task pod listing, as a JSON array of strings, what the scheduler could
 * not give the job as its config asked (a service container's user that is not a number,
 * say). The `task.scheduled` event carries the same list, whoever announces the pod.
 */
export const WARNINGS_ANNOTATION = 'longshore.io/warnings';

/** The orchestrator's settings (`CIRCLECI_GOAT_CONFIG`). Holds the task token: Secret only. */
export const GoatConfig = z.object({
  /**
   * The job's custom entrypoint for the primary container (its `entrypoint` then its
   * `command`), which the orchestrator starts in the background before the task agent;
   * empty for none.
   */
  cmd: z.array(z.string()),
  /** The user the orchestrator runs the task agent as (the primary container's `user`); '' for the image's. */
  user: z.string(),
  task_id: z.string().min(1),
  readiness_file_path: z.string(),
  enable_unsafe_retries: z.boolean(),
  token: z.string().min(1),
  task_agent_path: z.string().min(1),
  runner_api_base_url: z.string().min(1),
  allocation: z.string().min(1),
  ssh_advertise_addr: z.string(),
  /** Nanoseconds, as Go's time.Duration marshals. */
  max_run_time: z.number().int().positive(),
});
export type GoatConfig = z.infer<typeof GoatConfig>;
