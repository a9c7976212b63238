// Public surface of @longshore/scheduler, for the main job, the CLI's `config check --cluster`
// and tests that run it in-process.
export { type ClassifyOptions, classifyPod, type PodState } from './classify.ts';
export {
  type ImagePlatforms,
  type ImageRef,
  parseImageRef,
  RegistryImagePlatforms,
} from './image-platforms.ts';
export { buildTaskPod, type TaskPodInput } from './pod-builder.ts';
export {
  type ClassPodCheck,
  checkClassPod,
  checkClassPods,
  type PodCheckDeps,
  type PodVerdict,
  recordPodChecks,
  samplePods,
  verdictOfRefusal,
} from './pod-check.ts';
export { type RunningScheduler, type SchedulerDeps, startScheduler } from './scheduler.ts';
export { type SchedulerSettings, schedulerSettings } from './settings.ts';
