// The constraint checker: every `intervalMs`, and `debounceMs` after the nodes change
// (node informer), checks each resource class's pod spec against the live nodes
// (checkConstraints), advances its status (nextStatus), stores it in the KV bucket the
// claimers watch and publishes it on the bus. State comes back from the bucket at start, so
// a restart keeps counting where the last life stopped, and so does a replica that takes
// the checker over (main.ts runs it only on the holder of the `constraints` lease).
import type { CoreV1Api, KubeConfig, V1Node } from '@kubernetes/client-node';
import { makeInformer } from '@kubernetes/client-node';
import type { Bus, BusKv } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey, Subjects } from '@longshore/contracts';
import type { Logger } from '@longshore/logging';
import { every, retryUntilAvailable } from '@longshore/runtime';
import { keepInformer } from '@longshore/runtime/kube';
import { Counter, Gauge, type Registry } from 'prom-client';
import { checkConstraints } from './check.ts';
import { debounce } from './debounce.ts';
import { nextStatus } from './status.ts';

export interface CheckerSettings {
  /** Resource class -> its pod spec (agent.resourceClasses.<rc>.spec). */
  classes: Record<string, Record<string, unknown> | undefined>;
  intervalMs: number;
  threshold: number;
  debounceMs: number;
}

export interface CheckerDeps {
  kc: KubeConfig;
  core: CoreV1Api;
  bus: Bus;
  settings: CheckerSettings;
  logger: Logger;
  registry: Registry;
  /** Aborted when this replica must stop checking (the lease was lost): a start gives up. */
  signal?: AbortSignal;
}

export interface RunningChecker {
  ready(): boolean;
  /** Runs one check of every class now (serialised with the others). */
  checkNow(trigger: string): Promise<void>;
  stop(): Promise<void>;
}

/** What a node change must touch to matter to a check: heartbeats alone do not. */
export function nodeFingerprint(n: V1Node): string {
  return JSON.stringify([
    n.metadata?.labels ?? {},
    n.spec?.taints ?? [],
    n.spec?.unschedulable ?? false,
    n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '',
    n.status?.allocatable ?? {},
  ]);
}

interface CheckerMetrics {
  readonly checks: Counter<'resource_class' | 'result'>;
  readonly enabled: Gauge<'resource_class'>;
}

/**
 * The checker's metrics on `registry`, created on first use: a checker started again in the
 * same process (its replica took the lease back) shares them rather than failing to register.
 */
export function checkerMetrics(registry: Registry): CheckerMetrics {
  const known = metricsOf.get(registry);
  if (known) return known;
  const metrics: CheckerMetrics = {
    checks: new Counter({
      name: 'longshore_constraints_checks_total',
      help: 'Constraint checks by resource class and result (pass, fail, error)',
      labelNames: ['resource_class', 'result'],
      registers: [registry],
    }),
    enabled: new Gauge({
      name: 'longshore_constraints_enabled',
      help: 'Whether claiming is enabled for a resource class (1) or disabled by the checker (0); only on the replica that checks',
      labelNames: ['resource_class'],
      registers: [registry],
    }),
  };
  metricsOf.set(registry, metrics);
  return metrics;
}

const metricsOf = new WeakMap<Registry, CheckerMetrics>();

export async function startChecker(d: CheckerDeps): Promise<RunningChecker> {
  const { settings, logger, signal } = d;
  const classes = Object.keys(settings.classes);
  const { checks, enabled } = checkerMetrics(d.registry);
  // NATS may have gone away since the bus connected: the bucket is waited for, not fatal.
  const kv: BusKv<typeof ConstraintStatus> = await retryUntilAvailable(
    'the constraint status bucket',
    () => d.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus),
    { logger, signal },
  );
  const state = new Map<string, ConstraintStatus>();
  for (const rc of classes) {
    const prev = await retryUntilAvailable(
      `the constraint status of ${rc}`,
      () => kv.get(constraintStatusKey(rc)),
      { logger, signal },
    );
    if (prev) state.set(rc, prev.value);
    enabled.set({ resource_class: rc }, prev?.value.enabled === false ? 0 : 1);
  }
  if (state.size > 0)
    logger.info({ classes: Object.fromEntries(state) }, 'constraint status read back from the bucket');

  const known = new Map<string, string>();
  // Set at once when the lease is lost, so no class is checked (and written) after it.
  let stopped = signal?.aborted ?? false;
  signal?.addEventListener(
    'abort',
    () => {
      stopped = true;
    },
    { once: true },
  );
  let running: Promise<void> = Promise.resolve();

  const runOnce = async (trigger: string) => {
    let nodes: V1Node[];
    try {
      nodes = (await d.core.listNode()).items;
    } catch (err) {
      // Not a constraint failure: the cluster could not be read. Counts stay as they are.
      for (const rc of classes) checks.inc({ resource_class: rc, result: 'error' });
      logger.warn({ err, trigger }, 'cannot list nodes; constraint check skipped');
      return;
    }
    known.clear();
    for (const n of nodes) known.set(n.metadata?.name ?? '', nodeFingerprint(n));
    const at = new Date();
    for (const rc of classes) {
      if (stopped) return;
      // One class at a time, each on its own: a failure to record one (the bucket or the
      // publish) is that class's error, and the others are still checked this round.
      try {
        await checkClass(rc, nodes, at, trigger);
      } catch (err) {
        checks.inc({ resource_class: rc, result: 'error' });
        logger.error({ err, trigger, resource_class: rc }, 'constraint check of a class failed');
      }
    }
  };
  const checkClass = async (rc: string, nodes: V1Node[], at: Date, trigger: string) => {
    const result = checkConstraints(settings.classes[rc], nodes);
    const prev = state.get(rc);
    const next = nextStatus(prev, result, settings.threshold, rc, at);
    // The bucket first: it is what a restarted claimer (or this service) reads back.
    await kv.put(constraintStatusKey(rc), next);
    state.set(rc, next);
    await d.bus.publish(Subjects.constraintStatus, next, { msgId: `${rc}.${next.at}` });
    checks.inc({ resource_class: rc, result: result.ok ? 'pass' : 'fail' });
    enabled.set({ resource_class: rc }, next.enabled ? 1 : 0);
    if (prev?.enabled !== next.enabled || !result.ok)
      logger[next.enabled ? 'info' : 'warn'](
        { trigger, ...next },
        next.enabled ? 'constraint check' : 'claiming disabled by the constraint checker',
      );
  };
  const checkNow = (trigger: string): Promise<void> => {
    running = running.then(() =>
      stopped
        ? undefined
        : runOnce(trigger).catch((err: unknown) => logger.error({ err, trigger }, 'constraint check failed')),
    );
    return running;
  };

  const onNodes = debounce(() => void checkNow('node-change'), settings.debounceMs);
  const noteNode = (n: V1Node, gone = false) => {
    const name = n.metadata?.name ?? '';
    const fp = gone ? undefined : nodeFingerprint(n);
    if (known.get(name) === fp) return;
    if (fp === undefined) known.delete(name);
    else known.set(name, fp);
    onNodes.trigger();
  };

  await checkNow('start');
  const informer = makeInformer(d.kc, '/api/v1/nodes', () => d.core.listNode());
  informer.on('add', (n) => noteNode(n));
  informer.on('update', (n) => noteNode(n));
  informer.on('delete', (n) => noteNode(n, true));
  // Started once the apiserver answers (its first list brings every node in as added, which
  // triggers a check), and started again whenever the watch breaks.
  const watch = keepInformer(informer, {
    what: `the node watch at ${d.kc.getCurrentCluster()?.server ?? 'the apiserver'}`,
    logger,
  });
  const halt = () => {
    stopped = true;
    onNodes.cancel();
    return Promise.allSettled([watch.stop(), running]);
  };
  // Losing the lease stops the checks at once, even while the watch is still waiting.
  const onAbort = () => void halt();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    await watch.started;
  } catch (err) {
    signal?.removeEventListener('abort', onAbort);
    await halt();
    throw err;
  }
  // checkNow never rejects (a failed check is logged and counted inside): the loop only paces it.
  const interval = every(
    settings.intervalMs,
    async () => {
      await checkNow('interval');
    },
    {
      firstDelayMs: settings.intervalMs,
      onError: (err) => logger.error({ err }, 'constraint check failed'),
    },
  );
  logger.info(
    {
      classes,
      interval_ms: settings.intervalMs,
      threshold: settings.threshold,
      debounce_ms: settings.debounceMs,
    },
    'constraint checker started',
  );

  let stopping: Promise<void> | undefined;
  return {
    ready: () => !stopped,
    checkNow,
    stop: () => {
      stopping ??= (async () => {
        signal?.removeEventListener('abort', onAbort);
        await Promise.allSettled([interval.stop(), halt()]);
        // Another replica reports the classes now; this one's last values would mislead.
        enabled.reset();
      })();
      return stopping;
    },
  };
}
