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

/** The orchestrator's settings (`CIRCLECI_GOAT_CONFIG`). Holds the task token: Secret only. */
export const GoatConfig = z.object({
  cmd: z.array(z.string()),
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
