// One metrics registry per service, passed to whoever records metrics: prom-client's
// global registry would mix services that share a process (tests) and hide dependencies.
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** A registry labelled {service} with the process metrics (CPU, memory, event loop, GC). */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The stages of a task, each named by the moment it ends and measured from the one before:
 * `config_fetched` (claimed -> the claimer has the task's config), `pod_created` (-> the
 * scheduler's create of the Secret and Pod returned), `running`, `ended`, `cleaned_up` (the
 * pod and Secret deleted), and `end_to_end` (claimed -> cleaned up). `claimed` (queued ->
 * claimed) is not among them: the Runner API's claim answer carries no queued time.
 */
export type TaskStage = 'config_fetched' | 'pod_created' | 'running' | 'ended' | 'cleaned_up' | 'end_to_end';

/**
 * Seconds, from 5 ms (a config fetch on loopback is 1-20 ms in the bench) to 5 h (the
 * default agent.maxRunTime): the bench's stages fall from 1 ms to about a minute at 1000
 * tasks queued at once, real jobs run minutes to hours.
 */
export const TASK_STAGE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 18000,
] as const;

export interface TaskStageRecorder {
  /** Observes a stage from `from` (ISO time or ms) to `to` (default now); nothing when `from` is unknown or later than `to`. */
  observe(stage: TaskStage, resourceClass: string, from: string | number | undefined, to?: number): void;
}

/** `longshore_<service>_task_stage_seconds{resource_class, stage}` on the service's registry. */
export function taskStageHistogram(registry: Registry, service: string): TaskStageRecorder {
  const h = new Histogram({
    name: `longshore_${service.replaceAll('-', '_')}_task_stage_seconds`,
    help: 'Time a task spent in each stage, by resource class; the stage is named by the moment it ends (docs/metrics.md)',
    labelNames: ['resource_class', 'stage'],
    buckets: [...TASK_STAGE_BUCKETS],
    registers: [registry],
  });
  return {
    observe(stage, resourceClass, from, to = Date.now()) {
      const seconds = stageSeconds(from, to);
      if (seconds !== undefined) h.observe({ resource_class: resourceClass, stage }, seconds);
    },
  };
}

/** `to - from` in seconds, or undefined when `from` is missing, unreadable or after `to` (clocks of two machines). */
export function stageSeconds(from: string | number | undefined, to: number): number | undefined {
  const fromMs = typeof from === 'string' ? Date.parse(from) : from;
  if (fromMs === undefined || !Number.isFinite(fromMs) || fromMs > to) return undefined;
  return (to - fromMs) / 1000;
}
