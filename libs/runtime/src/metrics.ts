// One metrics registry per service, passed to whoever records metrics: prom-client's
// global registry would mix services that share a process (tests) and hide dependencies.
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry labelled {service} with the process metrics (CPU, memory, event loop, GC). */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
