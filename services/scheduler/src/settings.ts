// What the scheduler needs from the config, resolved once at start.
import type { LongshoreConfig, ResourceClassConfig, TaskPodConfig } from '@longshore/config';

export interface SchedulerSettings {
  runnerName: string;
  namespace: string;
  runnerApiUrl: string;
  maxRunTimeMs: number;
  /** Place each task pod on nodes of its image's OS/arch (read from the image's registry). */
  autodetectPlatform: boolean;
  taskPod: TaskPodConfig;
  resourceClasses: Record<string, ResourceClassConfig>;
}

export function schedulerSettings(
  cfg: LongshoreConfig,
  runnerName: string,
  namespace: string,
): SchedulerSettings {
  return {
    runnerName,
    namespace,
    runnerApiUrl: cfg.agent.runnerAPI,
    maxRunTimeMs: cfg.agent.maxRunTime,
    autodetectPlatform: cfg.agent.autodetectPlatform,
    taskPod: cfg.agent.taskPod,
    resourceClasses: cfg.agent.resourceClasses,
  };
}
