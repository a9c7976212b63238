// The scheduler: claims in (JetStream, `task.claimed`) -> Launcher -> Secret and Pod;
// pods (watch) -> PodTracker -> lifecycle events and cleanup.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Bus, ConsumerHandle } from '@longshore/bus';
import { Subjects } from '@longshore/contracts';
import type { ClaimLedger } from '@longshore/ledger';
import type { Logger, SecretScrubber } from '@longshore/logging';
import { taskStageHistogram } from '@longshore/runtime';
import { Counter, type Registry } from 'prom-client';
import { AwsEcrLogins } from './ecr.ts';
import { type ImagePlatforms, RegistryImagePlatforms } from './image-platforms.ts';
import { LAUNCH_TRIES, Launcher } from './launcher.ts';
import { PodTracker } from './pod-tracker.ts';
import type { EcrLogins } from './registry-auth.ts';
import type { SchedulerSettings } from './settings.ts';

export interface SchedulerDeps {
  kc: KubeConfig;
  bus: Bus;
  ledger: ClaimLedger;
  settings: SchedulerSettings;
  logger: Logger;
  registry: Registry;
  /** Claims launched at once (pod creations in flight). */
  concurrency?: number;
  /** Where image platforms come from with autodetectPlatform; default: the images' registries. */
  imagePlatforms?: ImagePlatforms;
  /** The process's log scrubber, taught each task's registry passwords and AWS keys while it is launched. */
  scrubber?: SecretScrubber;
  /** Where ECR logins for `aws_auth` come from; default: ECR through the AWS SDK, loaded on first use. */
  ecr?: EcrLogins;
  /** Runs a start-up step until it works (the service passes `svc.retry`); default: one try. */
  retry?: <T>(what: string, step: () => Promise<T>) => Promise<T>;
}

export interface RunningScheduler {
  ready(): boolean;
  /** Stops taking claims and watching pods; waits for work in progress. Idempotent. */
  stop(): Promise<void>;
}

export async function startScheduler(deps: SchedulerDeps): Promise<RunningScheduler> {
  const core = deps.kc.makeApiClient(CoreV1Api);
  const launched = new Counter({
    name: 'longshore_scheduler_claims_total',
    help: 'Claims handled, by outcome (created, rejected, stale, no-token, gave-up, waiting-for-record, already-launched)',
    labelNames: ['outcome'],
    registers: [deps.registry],
  });
  const ended = new Counter({
    name: 'longshore_scheduler_tasks_ended_total',
    help: 'Task endings published, by resource class, outcome and reason (each counted by one replica)',
    labelNames: ['resource_class', 'outcome', 'reason'],
    registers: [deps.registry],
  });
  const retried = new Counter({
    name: 'longshore_scheduler_task_retries_total',
    help: "Tasks ended to be retried (the class's enableUnsafeRetries), by resource class and the ending's reason",
    labelNames: ['resource_class', 'reason'],
    registers: [deps.registry],
  });
  const stages = taskStageHistogram(deps.registry, 'scheduler');
  const tracker = new PodTracker({
    kc: deps.kc,
    core,
    bus: deps.bus,
    ledger: deps.ledger,
    settings: deps.settings,
    logger: deps.logger.child({ unit: 'pod-tracker' }),
    metrics: {
      ended: (o, r, rc) => ended.inc({ resource_class: rc, outcome: o, reason: r }),
      retried: (rc, r) => retried.inc({ resource_class: rc, reason: r }),
      stages,
    },
  });
  await tracker.start();
  const lookups = new Counter({
    name: 'longshore_scheduler_image_platform_lookups_total',
    help: 'autodetectPlatform lookups of image platforms, by outcome (hit, resolved, unknown)',
    labelNames: ['outcome'],
    registers: [deps.registry],
  });
  const platforms = deps.settings.autodetectPlatform
    ? (deps.imagePlatforms ??
      new RegistryImagePlatforms({
        onLookup: (o, failure) => {
          lookups.inc({ outcome: o });
          // The pod is still created, without the platform affinity: say why.
          if (failure)
            deps.logger.warn(
              { err: failure.message },
              'image platforms unknown; the pod gets no platform affinity',
            );
        },
      }))
    : undefined;
  const launcher = new Launcher({
    ...(platforms ? { platforms } : {}),
    ecr: deps.ecr ?? new AwsEcrLogins(),
    ...(deps.scrubber ? { scrubber: deps.scrubber } : {}),
    bus: deps.bus,
    core,
    ledger: deps.ledger,
    settings: deps.settings,
    logger: deps.logger.child({ unit: 'launcher' }),
    metrics: { launched: (o) => launched.inc({ outcome: o }), stages },
    seenPod: (name) => tracker.hasSeen(name),
  });
  let consumer: ConsumerHandle | undefined;
  try {
    const retry = deps.retry ?? (<T>(_what: string, step: () => Promise<T>) => step());
    consumer = await retry('the task.claimed consumer', () =>
      deps.bus.consume(Subjects.taskClaimed, {
        durable: 'scheduler',
        concurrency: deps.concurrency ?? 16,
        maxDeliver: LAUNCH_TRIES,
        handler: (d) => launcher.launch(d.payload, d.redelivered),
      }),
    );
  } catch (err) {
    await tracker.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    ready: () => stopping === undefined,
    stop: () => {
      stopping ??= Promise.allSettled([consumer?.stop(), tracker.stop()]).then(() => undefined);
      return stopping;
    },
  };
}
