// Rate, errors and duration of every outside call a service makes, on its own registry:
// bus publishes and handled messages (NATS), Kubernetes requests, Runner API calls and
// claim ledger operations (Redis). The libraries report through small hooks of their own
// (BusMetrics, KubeRequestObserver, HttpRunnerApi's observe); the adapters from those hooks
// to prom-client live here, once, so that every service's metrics are named alike:
// longshore_<service>_<dependency>_..._total and ..._seconds.
import { type BusMetrics, busSubjectLabel } from '@longshore/bus';
import type { KubeRequestObserver } from '@longshore/kube';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * Seconds, for a call on loopback or inside the cluster: from 5 ms (a Redis command, a
 * publish on loopback) to 10 s (the Runner API client's own timeout).
 */
export const RED_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** `longshore_<service>`, with `-` as `_` (vm-scaler -> longshore_vm_scaler). */
export function metricPrefix(service: string): string {
  return `longshore_${service.replaceAll('-', '_')}`;
}

/**
 * A counter and a histogram of one dependency's calls, by the same labels. Made once per
 * registry: a service that starts a unit again in one process (the vm-scaler after taking
 * its lease back) gets the ones it registered before.
 */
function red<L extends string>(
  registry: Registry,
  names: { total: string; seconds: string },
  help: { total: string; seconds: string },
  labelNames: readonly L[],
): ((labels: Record<L, string>, durationMs: number) => void) & { zero(labels: Record<L, string>): void } {
  const total =
    (registry.getSingleMetric(names.total) as Counter<L> | undefined) ??
    new Counter({ name: names.total, help: help.total, labelNames, registers: [registry] });
  const seconds =
    (registry.getSingleMetric(names.seconds) as Histogram<L> | undefined) ??
    new Histogram({
      name: names.seconds,
      help: help.seconds,
      labelNames,
      buckets: [...RED_BUCKETS],
      registers: [registry],
    });
  const record = (labels: Record<L, string>, durationMs: number) => {
    total.inc(labels);
    seconds.observe(labels, durationMs / 1000);
  };
  // A series at 0, so that a rate of errors is 0 rather than absent before the first one.
  return Object.assign(record, { zero: (labels: Record<L, string>) => total.inc(labels, 0) });
}

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

/**
 * The bus's hooks as metrics, subjects relative to the bus prefix (busSubjectLabel):
 * `_bus_published_total` and `_bus_publish_duration_seconds{subject,outcome}` (ok | error), `_bus_handled_total` and
 * `_bus_handle_duration_seconds{subject,outcome}` (ok = acked, nak, term, error, skipped),
 * `_bus_rejected_total{subject,reason}`.
 */
export function busMetrics(registry: Registry, service: string, busPrefix: string): BusMetrics {
  const p = `${metricPrefix(service)}_bus`;
  const published = red(
    registry,
    { total: `${p}_published_total`, seconds: `${p}_publish_duration_seconds` },
    {
      total:
        'Messages published on the bus, by subject and outcome (ok: sent, or for a durable subject stored or found a duplicate)',
      seconds: "Duration of bus publishes, for a durable subject until the stream's acknowledgement",
    },
    ['subject', 'outcome'],
  );
  const handled = red(
    registry,
    { total: `${p}_handled_total`, seconds: `${p}_handle_duration_seconds` },
    {
      total:
        "Messages of durable subjects this service handled, by subject and outcome (ok: acked; nak: to be redelivered; term: given up; error: the handler failed; skipped: another consumer's subject)",
      seconds: "Time from a message's delivery to its settlement, by subject and outcome",
    },
    ['subject', 'outcome'],
  );
  const rejected = counter(
    registry,
    `${p}_rejected_total`,
    'Messages and KV values dropped unread, by subject and reason (not-json, invalid, unknown-subject)',
    ['subject', 'reason'],
  );
  const subject = (s: string) => busSubjectLabel(busPrefix, s);
  return {
    published: (s, outcome, durationMs) => published({ subject: subject(s), outcome }, durationMs),
    handled: (s, outcome, durationMs) =>
      handled({ subject: subject(s), outcome: outcome === 'ack' ? 'ok' : outcome }, durationMs),
    rejected: (s, reason) => rejected.inc({ subject: subject(s), reason }),
  };
}

/** Kubernetes requests as `_kube_requests_total` and `_kube_request_duration_seconds{verb,resource,outcome}`. */
export function kubeMetrics(registry: Registry, service: string): KubeRequestObserver {
  const p = `${metricPrefix(service)}_kube`;
  const record = red(
    registry,
    { total: `${p}_requests_total`, seconds: `${p}_request_duration_seconds` },
    {
      total:
        'Kubernetes API requests, by verb, resource and outcome (the HTTP status class, or error when no whole answer came); a watch counts once, when it opens',
      seconds:
        'Duration of Kubernetes API requests until the whole answer was read; for a watch, until it opened',
    },
    ['verb', 'resource', 'outcome'],
  );
  return (verb, resource, outcome, durationMs) => record({ verb, resource, outcome }, durationMs);
}

/**
 * HttpRunnerApi's `observe` option, as `_runner_api_requests_total` and
 * `_runner_api_request_duration_seconds{operation,outcome}`. Typed by shape, so that this
 * library need not load the Runner API client.
 */
export function runnerApiMetrics(
  registry: Registry,
  service: string,
): (operation: string, outcome: string, durationMs: number) => void {
  const p = `${metricPrefix(service)}_runner_api`;
  const record = red(
    registry,
    { total: `${p}_requests_total`, seconds: `${p}_request_duration_seconds` },
    {
      total:
        'Runner API requests, by operation and outcome (the HTTP status class, timeout, or error when no whole answer came)',
      seconds: 'Duration of Runner API requests, answer body included',
    },
    ['operation', 'outcome'],
  );
  return (operation, outcome, durationMs) => record({ operation, outcome }, durationMs);
}

/**
 * The ledger with each of its asynchronous methods measured as
 * `_ledger_operations_total` and `_ledger_operation_duration_seconds{operation,outcome}`
 * (the method's name; ok, or error when it threw). A proxy rather than a wrapper class, so
 * that a method the ledger gains is measured without a change here; each call runs on the
 * ledger itself, whose private fields a proxy as `this` could not reach.
 */
export function measuredLedger<T extends object>(ledger: T, registry: Registry, service: string): T {
  const p = `${metricPrefix(service)}_ledger`;
  const record = red(
    registry,
    { total: `${p}_operations_total`, seconds: `${p}_operation_duration_seconds` },
    {
      total: 'Claim ledger (Redis) operations, by operation and outcome (ok, or error when it failed)',
      seconds: 'Duration of claim ledger (Redis) operations',
    },
    ['operation', 'outcome'],
  );
  const measured = new Map<string | symbol, unknown>();
  const seen = new Set<string>();
  return new Proxy(ledger, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      let wrapped = measured.get(prop);
      if (wrapped === undefined) {
        wrapped = (...args: unknown[]) => {
          const started = performance.now();
          const result: unknown = value.apply(target, args);
          // Only what returns a promise goes to Redis; resetSeq and the like are local.
          if (!(result instanceof Promise)) return result;
          return result.then(
            (v) => {
              record({ operation: prop, outcome: 'ok' }, performance.now() - started);
              if (!seen.has(prop)) {
                seen.add(prop);
                record.zero({ operation: prop, outcome: 'error' });
              }
              return v;
            },
            (err: unknown) => {
              record({ operation: prop, outcome: 'error' }, performance.now() - started);
              throw err;
            },
          );
        };
        measured.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}
