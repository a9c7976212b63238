// The Longshore configuration file (docs/config.md is its reference; keep the two in step).
// It accepts the seeds' Helm values unchanged: `agent.*` of CircleCI's container-agent
// chart and `provisioner.*` of the Runner Provisioner chart, plus blocks of our own.
// Durations are Go strings in the file and milliseconds once parsed.
import { assertPrefix, ResourceClassName, redisKeys } from '@longshore/contracts';
import { z } from 'zod';
import { block } from './blocks.ts';
import { duration, formatDuration, optionalDuration } from './duration.ts';
import { keyDoc } from './json-schema.ts';
import { NODE_SELECTOR_FORM, PodSchedulingFields } from './pod-spec.ts';
import { httpBaseUrlProblem, natsServers, natsUrlProblem, redisUrlProblem, tokenProblem } from './values.ts';

/** A string where the charts' "" means "not set" (their defaults are empty strings). */
function optionalString() {
  return z
    .string()
    .optional()
    .transform((s) => (s === '' ? undefined : s));
}

/**
 * An http(s) base URL, without trailing slashes so callers can append paths. `tokenKeys`
 * says where tokens go instead of the URL.
 */
function baseUrl(tokenKeys: string) {
  return (
    z
      .string()
      .superRefine((u, ctx) => problemIssue(httpBaseUrlProblem(u, tokenKeys), ctx))
      .transform((u) => u.replace(/\/+$/, ''))
      // The part of httpBaseUrlProblem a JSON Schema can say, for the chart's schema.
      .meta({ type: 'string', pattern: '^https?://' })
  );
}

/** A token sent as a bearer token: visible ASCII only. "" means not set, as for optionalString. */
function optionalToken() {
  return optionalString().superRefine((t, ctx) => {
    if (t !== undefined) problemIssue(tokenProblem(t), ctx);
  });
}

/** Any mapping, kept as written: Pod and VirtualMachineInstance fields we pass through. */
const OpaqueRecord = z.record(z.string(), z.unknown());

/**
 * A resource class's Pod spec, kept as written; the fields Longshore reads itself
 * (pod-spec.ts) must have their Kubernetes shapes, so a bad one is caught here.
 */
const ClassPodSpec = OpaqueRecord.superRefine((spec, ctx) => {
  const result = PodSchedulingFields.safeParse(spec);
  if (result.success) return;
  for (const issue of result.error.issues) {
    // A node selector that is not a map is most often the FAQ's `kubernetes.io/arch=amd64`.
    const notAMap = issue.path.length === 1 && issue.path[0] === 'nodeSelector';
    const message = notAMap
      ? `${issue.message}, e.g. ${NODE_SELECTOR_FORM} (not the string kubernetes.io/arch=amd64)`
      : issue.message;
    ctx.addIssue({ code: 'custom', path: issue.path, message });
  }
});

const DnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name (lowercase DNS label)')
  .meta(keyDoc({ type: 'Kubernetes namespace name' }));

// ---------------------------------------------------------------- agent (container runner)

/** One entry of `agent.resourceClasses`: seed 000, plus our per-class concurrency cap. */
const ResourceClassEntry = block(
  {
    token: optionalToken().meta(
      keyDoc({
        description: 'resource class token; visible ASCII only (see [Tokens](#tokens))',
        default: 'required unless `agent.customSecret` is set',
        source: 'seed 000',
      }),
    ),
    metadata: OpaqueRecord.optional().meta(
      keyDoc({
        type: 'mapping',
        description: 'Pod metadata (labels, annotations), kept as written',
        source: 'seed 000',
      }),
    ),
    spec: ClassPodSpec.optional().meta(
      keyDoc({
        type: 'mapping',
        description:
          'any Pod spec fields, kept as written (fields container-agent overwrites are overwritten); the scheduling fields below must have their Kubernetes shapes',
        source: 'seed 000',
      }),
    ),
    enableUnsafeRetries: z
      .boolean()
      .default(false)
      .meta(keyDoc({ description: 'retry interrupted tasks (up to 3 times)', source: 'seed 000' })),
    maxConcurrentTasks: z
      .int()
      .min(1)
      .optional()
      .meta(
        keyDoc({
          description: 'cap for this class, within `agent.maxConcurrentTasks`',
          default: 'unset (no own cap)',
          source: 'Longshore extension',
        }),
      ),
  },
  { unknownKeys: 'lenient' },
);

const GcBlock = block(
  {
    enabled: z
      .boolean()
      .optional()
      .meta(
        keyDoc({
          description: 'garbage-collect old task pods and Secrets',
          default: '`true`',
          source: 'seed 000 / DESIGN',
        }),
      ),
    interval: optionalDuration({ allowZero: false }).meta(
      keyDoc({ description: 'how often GC runs', default: '`3m`', source: 'DESIGN' }),
    ),
    threshold: optionalDuration({ allowZero: false }).meta(
      keyDoc({ description: 'age after which GC deletes a task pod', default: '`5h5m`', source: 'seed 000' }),
    ),
    maxRequestsPerSecond: z
      .number()
      .positive()
      .default(20)
      .meta(
        keyDoc({
          description: 'ceiling on GC requests (lists, deletes) per second',
          source: 'Longshore extension',
        }),
      ),
    batchSize: z
      .int()
      .min(1)
      .default(100)
      .meta(
        keyDoc({
          description: 'objects deleted per batch; shutdown stops a sweep between batches',
          source: 'Longshore extension',
        }),
      ),
    claimGrace: duration({ allowZero: false })
      .prefault('3m')
      .meta(
        keyDoc({
          description: 'a claim with no pod this long is re-announced or interrupted',
          source: 'Longshore extension',
        }),
      ),
    orphanGrace: duration({ allowZero: false })
      .prefault('1m')
      .meta(
        keyDoc({
          description: 'age before a labelled pod with no claim, or a task Secret with no pod, is deleted',
          source: 'Longshore extension',
        }),
      ),
  },
  { unknownKeys: 'lenient' },
);

const ConstraintCheckerBlock = block(
  {
    enable: z
      .boolean()
      .default(false)
      .meta(keyDoc({ source: 'seed 000' })),
    threshold: z
      .int()
      .min(1)
      .default(3)
      .meta(keyDoc({ description: 'failed checks before claiming stops', source: 'seed 000' })),
    interval: duration({ allowZero: false })
      .prefault('15m')
      .meta(keyDoc({ description: 'how often the checks run', source: 'seed 000' })),
    debounce: optionalDuration().meta(
      keyDoc({
        description: 're-check this long after the last node change',
        default: '`2s`',
        source: 'Longshore extension',
      }),
    ),
  },
  { unknownKeys: 'lenient' },
);

/** agent.idleWait's defaults, as written in a config file. */
export const IDLE_WAIT_DEFAULTS = { first: '100ms', max: '1s' } as const;

/**
 * Longshore extension: the claim loop's waits after an empty claim answer (no work). The
 * claimer's DEFAULT_BACKOFF (services/claimer/src/backoff.ts) has the same defaults.
 */
const IdleWaitBlock = block(
  {
    first: duration({ allowZero: false })
      .prefault(IDLE_WAIT_DEFAULTS.first)
      .meta(
        keyDoc({
          description: 'wait after the first empty claim answer (after a claim the loop asks again at once)',
          source: 'Longshore extension',
        }),
      ),
    max: duration({ allowZero: false })
      .prefault(IDLE_WAIT_DEFAULTS.max)
      .meta(
        keyDoc({
          description:
            'the waits double up to this while the queue stays empty: an idle class makes 60 s / max claim requests a minute, and a task queued then waits up to this to be claimed',
          source: 'Longshore extension',
        }),
      ),
  },
  { unknownKeys: 'strict' },
).superRefine((w, ctx) => {
  if (w.first > w.max) {
    ctx.addIssue({
      code: 'custom',
      path: ['first'],
      message: `must not exceed agent.idleWait.max (${formatDuration(w.max)})`,
    });
  }
});

/** Longshore extension: images and paths of the task pod's injected parts. */
const TaskPodBlock = block(
  {
    initImage: z
      .string()
      .min(1)
      .default('circleci/runner-init:agent')
      .meta(
        keyDoc({
          type: 'image',
          description:
            'the init container that copies the orchestrator and task agent into the shared volume',
          source: 'Longshore extension (DESIGN)',
        }),
      ),
    binDir: z
      .string()
      .startsWith('/', 'must be an absolute path')
      .default('/opt/circleci/bin')
      .meta(
        keyDoc({
          type: 'absolute path',
          description: 'where the shared volume is mounted in the init container and container 0',
          source: 'Longshore extension (DESIGN)',
        }),
      ),
    loggingImage: z
      .string()
      .min(1)
      .default('circleci/logging-collector:3')
      .meta(
        keyDoc({
          type: 'image',
          description: 'the logging container added when a job has service containers',
          source: "Longshore extension (CircleCI chart's `logging.image` default)",
        }),
      ),
    loggingTokenSecret: optionalString().meta(
      keyDoc({
        description:
          'a `kubernetes.io/service-account-token` Secret (the chart sets it from `logging.serviceAccount`) mounted at `/var/run/secrets/kubernetes.io/serviceaccount` in the logging container (only), so it reads pods and logs as its own account',
        default: "unset: the pod's own account",
        source: 'Longshore extension',
      }),
    ),
    imagePullTimeout: duration({ allowZero: false })
      .prefault('2m')
      .meta(
        keyDoc({
          description:
            'a task pod that cannot pull its image for this long fails its task (invalid image names fail at once)',
          source: 'Longshore extension',
        }),
      ),
    unschedulableTimeout: duration({ allowZero: false })
      .prefault('10m')
      .meta(
        keyDoc({
          description: 'a task pod the cluster cannot schedule for this long fails its task',
          source: 'Longshore extension',
        }),
      ),
    keepFailedPods: z
      .boolean()
      .default(false)
      .meta(
        keyDoc({
          description:
            'keep the pod and Secret of a failed task for debugging (GC still sweeps them after `gc.threshold`)',
          source: 'Longshore extension',
        }),
      ),
  },
  { unknownKeys: 'strict' },
);

/** Keys of CircleCI's container-agent chart under `agent` that configure its Deployment, not the program. */
export const AGENT_CHART_KEYS = [
  'replicaCount',
  'image',
  'pullSecrets',
  'matchLabels',
  'deploymentAnnotations',
  'deploymentLabels',
  'podAnnotations',
  'podSecurityContext',
  'containerSecurityContext',
  'forceUpdate',
  'environment',
  'log',
  'loggingLevel',
  'dnsConfig',
  'livenessProbe',
  'readinessProbe',
  'resources',
  'nodeSelector',
  'tolerations',
  'affinity',
  'pdb',
  'existingConfigMap',
  'serviceContainers',
  'ssh',
  'taskImagePullSecrets',
  'serviceAccount',
  'rbac',
  'logging',
  'nameOverride',
  'fullnameOverride',
] as const;

const DEFAULT_GC = { enabled: true, intervalMs: 3 * 60_000, thresholdMs: (5 * 60 + 5) * 60_000 };

const Agent = block(
  {
    resourceClasses: z
      .record(ResourceClassName, ResourceClassEntry)
      .default({})
      .meta(
        keyDoc({ type: 'map of resource class name → entry (below)', default: '`{}`', source: 'seed 000' }),
      ),
    customSecret: optionalString().meta(
      keyDoc({ description: 'name of a Secret holding tokens', source: 'seed 000' }),
    ),
    maxConcurrentTasks: z
      .int()
      .min(1)
      .default(20)
      .meta(keyDoc({ description: 'tasks claimed/run at once, all classes', source: 'seed 000' })),
    maxRunTime: duration({ allowZero: false })
      .prefault('5h')
      .meta(
        keyDoc({
          description: 'longest a task may run (pod `activeDeadlineSeconds`)',
          source: 'seed 000',
        }),
      ),
    terminationGracePeriodSeconds: z
      .int()
      .min(0)
      .default(18300)
      .meta(
        keyDoc({
          description: "grace period of the runner's pod",
          source: "seed 000 (default from CircleCI's chart; the seed's text lost it)",
        }),
      ),
    gc: GcBlock.prefault({}),
    // The chart's older names for gc.enabled and gc.threshold; they win over gc.* as in its chart.
    kubeGCEnabled: z
      .boolean()
      .optional()
      .meta(
        keyDoc({
          description: "the chart's older name of `agent.gc.enabled`; wins when both are set",
          default: '—',
          source: 'seed 000 chart',
        }),
      ),
    kubeGCThreshold: optionalDuration({ allowZero: false }).meta(
      keyDoc({
        type: 'duration',
        description: "the chart's older name of `agent.gc.threshold`; wins when both are set",
        default: '—',
        source: 'seed 000',
      }),
    ),
    constraintChecker: ConstraintCheckerBlock.prefault({}),
    idleWait: IdleWaitBlock.prefault({}),
    autodetectPlatform: z
      .boolean()
      .default(true)
      .meta(keyDoc({ description: "target task pods at the image's OS/arch", source: 'seed 000' })),
    runnerAPI: baseUrl('agent.resourceClasses.<class>.token or agent.customSecret')
      .prefault('https://runner.circleci.com')
      .meta(
        keyDoc({
          type: 'http(s) base URL',
          description:
            'trailing `/` removed; no credentials (`user:pass@`), query or fragment (tokens go in the token keys)',
          source: 'seed 000',
        }),
      ),
    name: z
      .string()
      .default('')
      .meta(
        keyDoc({
          description:
            "runner name in CircleCI's inventory (the claim's `name`), the same for every replica; `\"\"` = the Deployment's name (`LONGSHORE_DEPLOYMENT`, which the chart sets to `<fullname>-claimer`), else the host name. Not a replica's identity: see below",
          source: 'seed 000',
        }),
      ),
    namespace: DnsLabel.optional().meta(
      keyDoc({
        description:
          'for task pods and Secrets; unset = the service decides (e.g. `kube.namespace`, then its own)',
        source: 'Longshore extension',
      }),
    ),
    taskPod: TaskPodBlock.prefault({}),
  },
  { unknownKeys: 'lenient', chartKeys: AGENT_CHART_KEYS },
)
  .superRefine((a, ctx) => {
    if (a.customSecret === undefined) {
      for (const [name, rc] of Object.entries(a.resourceClasses)) {
        if (rc.token === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['resourceClasses', name, 'token'],
            message: 'required (or set agent.customSecret to read tokens from a Secret)',
          });
        }
      }
    }
  })
  .transform(({ gc, kubeGCEnabled, kubeGCThreshold, ...rest }) => ({
    ...rest,
    // CircleCI's chart reads the older kubeGCEnabled/kubeGCThreshold first and agent.gc.*
    // only when they are unset; a file with both must behave as it does there.
    gc: {
      ...gc,
      enabled: kubeGCEnabled ?? gc.enabled ?? DEFAULT_GC.enabled,
      interval: gc.interval ?? DEFAULT_GC.intervalMs,
      threshold: kubeGCThreshold ?? gc.threshold ?? DEFAULT_GC.thresholdMs,
    },
    /** Settings written twice that disagree, and which one won; configWarnings lists them. */
    keyWarnings: [
      ...(kubeGCEnabled !== undefined && gc.enabled !== undefined && kubeGCEnabled !== gc.enabled
        ? [shadowed('kubeGCEnabled', String(kubeGCEnabled), 'gc.enabled', String(gc.enabled))]
        : []),
      ...(kubeGCThreshold !== undefined && gc.threshold !== undefined && kubeGCThreshold !== gc.threshold
        ? [
            shadowed(
              'kubeGCThreshold',
              formatDuration(kubeGCThreshold),
              'gc.threshold',
              formatDuration(gc.threshold),
            ),
          ]
        : []),
    ],
  }));

/** The warning for a chart alias that overrides the key it stands for. */
function shadowed(alias: string, aliasValue: string, key: string, keyValue: string): string {
  return (
    `agent.${alias} (${aliasValue}) and agent.${key} (${keyValue}) are both set: agent.${alias} is used, ` +
    `as CircleCI's chart does; remove one of them`
  );
}

// ---------------------------------------------------------------- provisioner (VM pools)

/** Seed 002's default VirtualMachineInstance spec: Ubuntu 22.04 container disk, 2Gi, 1 CPU. */
export function defaultVmSpec(): Record<string, unknown> {
  return {
    domain: {
      resources: { requests: { memory: '2Gi', cpu: '1' } },
      devices: { disks: [{ name: 'disk', disk: { bus: 'virtio' } }] },
    },
    volumes: [{ name: 'disk', containerDisk: { image: 'quay.io/containerdisks/ubuntu:22.04' } }],
  };
}

/**
 * Replica bounds when unset. Seed 002's table lost its defaults; its examples say the rest.
 * maxReplicas 10 is its quickstart's bound: its existingSecret example sets no bounds, and a
 * lower default would cap that pool (one VM was ours before). minReplicas 0: its
 * troubleshooting names "minReplicas is 0" as why a fresh pool has no VMs until tasks are
 * pending, and a pool nobody asked to pre-warm starts no VMs.
 */
export const PROVISIONER_DEFAULTS = { minReplicas: 0, maxReplicas: 10 } as const;

const ProvisionerClass = block(
  {
    name: ResourceClassName.meta(keyDoc({ type: '`<namespace>/<name>`', source: 'seed 002' })),
    token: optionalToken().meta(
      keyDoc({
        description: 'runner token injected into each VM; visible ASCII only',
        default: 'required unless `existingSecret`',
        source: 'seed 002',
      }),
    ),
    idleTimeout: optionalDuration().meta(
      keyDoc({
        type: 'duration ≥ 0',
        description: 'a waiting VM shuts down after this; unset or `""` = never',
        source: 'seed 002',
      }),
    ),
    minReplicas: z
      .int()
      .min(0)
      .default(PROVISIONER_DEFAULTS.minReplicas)
      .meta(
        keyDoc({
          description: 'VMs always running',
          source:
            'seed 002 (its table lost the defaults; its troubleshooting names `minReplicas` 0 as why a fresh pool has no VMs until tasks are pending)',
        }),
      ),
    maxReplicas: z
      .int()
      .min(0)
      .default(PROVISIONER_DEFAULTS.maxReplicas)
      .meta(
        keyDoc({
          description: 'most VMs at once',
          source:
            "seed 002 (its quickstart's bound; its `existingSecret` example sets none, and was capped at 1 VM by our earlier default)",
        }),
      ),
    spec: OpaqueRecord.default(defaultVmSpec).meta(
      keyDoc({
        type: 'mapping',
        description: 'KubeVirt `VirtualMachineInstanceSpec`, kept as written',
        default:
          'Ubuntu 22.04 container disk (`quay.io/containerdisks/ubuntu:22.04`, virtio), 2Gi memory, 1 CPU',
        source: 'seed 002',
      }),
    ),
  },
  { unknownKeys: 'lenient' },
).superRefine((c, ctx) => {
  if (c.minReplicas > c.maxReplicas) {
    ctx.addIssue({
      code: 'custom',
      path: ['minReplicas'],
      message: `must not exceed maxReplicas (${c.maxReplicas})`,
    });
  }
});

const Provisioner = block(
  {
    circleciAPIAddr: baseUrl('provisioner.circleToken or provisioner.existingSecret')
      .prefault('https://runner.circleci.com')
      .meta(
        keyDoc({
          type: 'http(s) base URL',
          description:
            'of the CircleCI API (Server installs set theirs); trailing `/` removed; no credentials, query or fragment',
          source: 'seed 002',
        }),
      ),
    circleToken: optionalToken().meta(
      keyDoc({
        description:
          'CircleCI API token for task counts; visible ASCII only; ignored when `existingSecret` is set',
        default: 'required unless `existingSecret`',
        source: 'seed 002',
      }),
    ),
    existingSecret: optionalString().meta(
      keyDoc({
        description: 'name of a Secret with keys `circle-token` and `config.yaml`',
        source: 'seed 002',
      }),
    ),
    namespace: DnsLabel.optional().meta(
      keyDoc({
        description: 'where runner VMs are created',
        default: 'unset (the service decides)',
        source: 'seed 002',
      }),
    ),
    resourceClass: ProvisionerClass.optional().meta(
      keyDoc({ type: 'one resource class (below)', source: 'seed 002' }),
    ),
    resourceClasses: z
      .array(ProvisionerClass)
      .default([])
      .meta(
        keyDoc({ type: 'list of resource classes (below)', default: '`[]`', source: 'Longshore extension' }),
      ),
    pollInterval: duration({ allowZero: false })
      .prefault('1s')
      .meta(
        keyDoc({
          description: "pause between polls of each class's task counts",
          source: 'Longshore extension (seed 002 polls every second)',
        }),
      ),
  },
  { unknownKeys: 'lenient' },
).superRefine((p, ctx) => {
  const seen = new Set<string>();
  const all = [
    ...(p.resourceClass ? [{ rc: p.resourceClass, path: ['resourceClass'] }] : []),
    ...p.resourceClasses.map((rc, i) => ({ rc, path: ['resourceClasses', i] })),
  ];
  for (const { rc, path } of all) {
    if (seen.has(rc.name)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'name'],
        message: `resource class ${rc.name} is listed twice`,
      });
    }
    seen.add(rc.name);
    if (p.existingSecret === undefined && rc.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'token'],
        message: 'required (or set provisioner.existingSecret)',
      });
    }
  }
  if (p.existingSecret === undefined) {
    if (p.circleToken === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['circleToken'],
        message: 'required (or set provisioner.existingSecret)',
      });
    }
    if (all.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['resourceClass'],
        message: 'required: the resource class whose VMs to provision (or set provisioner.existingSecret)',
      });
    }
  }
});

// ---------------------------------------------------------------- Longshore's own blocks

const Bus = block(
  {
    url: z
      .string()
      .superRefine((u, ctx) => problemIssue(natsUrlProblem(u), ctx))
      .default('nats://127.0.0.1:4222')
      .meta(
        keyDoc({
          type: 'NATS server(s), comma-separated: `nats://` or `tls://` URLs, or `host:port` (nats:// implied); not websocket URLs (the services connect over TCP)',
          source: '`NATS_URL` overrides; `natsServers(url)` splits the list',
        }),
      ),
    prefix: z
      .string()
      .default('longshore')
      .superRefine((p, ctx) => validateWith(() => assertPrefix(p), ctx))
      // assertPrefix's rule (libs/contracts), for the chart's schema.
      .meta({
        pattern: '^[A-Za-z0-9_-]+$',
        ...keyDoc({
          type: 'one token of letters, digits, `_`, `-`',
          source: 'subject prefix; lets deployments and tests share a NATS server',
        }),
      }),
    replicas: z
      .int()
      .min(1)
      .max(5)
      .default(1)
      .meta(
        keyDoc({
          description:
            'copies JetStream keeps of the event stream and of every KV bucket: `3` on a three-node NATS cluster, so losing one server loses nothing (JetStream allows 5 at most; more than 1 needs a clustered JetStream with at least that many servers). Each service creates the stream and its buckets with it, and brings existing ones to it as it opens them (JetStream adds or drops copies in place). `longshore tap` and `status` do not read it and change no count; a bucket `status` finds missing it makes with one copy, and the first service to open it raises that',
        }),
      ),
  },
  { unknownKeys: 'strict' },
);

const Redis = block(
  {
    url: z
      .string()
      .superRefine((u, ctx) => problemIssue(redisUrlProblem(u), ctx))
      .default('redis://127.0.0.1:6379')
      .meta(
        keyDoc({
          type: '`redis://` or `rediss://` URL with a host; its path, if any, a database number (`/0`)',
          source: '`REDIS_URL` overrides',
        }),
      ),
    keyPrefix: z
      .string()
      .default('longshore')
      .superRefine((p, ctx) => validateWith(() => redisKeys(p), ctx))
      // redisKeys's rule (libs/contracts), for the chart's schema.
      .meta({
        pattern: '^[A-Za-z0-9_.-]+$',
        ...keyDoc({ type: 'letters, digits, `_`, `.`, `-`', source: 'prefix of every Redis key' }),
      }),
  },
  { unknownKeys: 'strict' },
);

const Kube = block(
  {
    namespace: DnsLabel.optional().meta(
      keyDoc({ source: 'default namespace for objects we manage when a more specific key is unset' }),
    ),
    kubeconfig: optionalString().meta(
      keyDoc({
        type: 'path of a kubeconfig file',
        source: "unset: `KUBECONFIG`, then the pod's service account",
      }),
    ),
  },
  { unknownKeys: 'strict' },
);

const Http = block(
  {
    host: z
      .string()
      .min(1)
      .default('0.0.0.0')
      .meta(keyDoc({ type: 'listen address of the health/metrics server' })),
    port: z
      .int()
      .min(0)
      .max(65535)
      .default(8080)
      .meta(keyDoc({ source: 'serves `/livez`, `/readyz`, `/metrics`' })),
  },
  { unknownKeys: 'strict' },
);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The container-agent chart's top-level `logging` keys: they configure its logging containers. */
export const LOGGING_CHART_KEYS = ['image', 'serviceAccount', 'rbac'] as const;

const Logging = block(
  { level: z.enum(LOG_LEVELS).default('info') },
  { unknownKeys: 'lenient', chartKeys: LOGGING_CHART_KEYS },
);

/** Top-level keys of the seeds' charts that are not about the program. */
export const TOP_LEVEL_CHART_KEYS = [
  'nameOverride',
  'fullnameOverride',
  'serviceAccount',
  'rbac',
  'proxy',
  'orchestrator',
  'image',
  'imagePullSecrets',
  'global',
] as const;

export const LongshoreConfig = block(
  {
    agent: Agent.prefault({}),
    provisioner: Provisioner.optional(),
    bus: Bus.prefault({}),
    redis: Redis.prefault({}),
    kube: Kube.prefault({}),
    http: Http.prefault({}),
    logging: Logging.prefault({}),
  },
  { unknownKeys: 'lenient', chartKeys: TOP_LEVEL_CHART_KEYS },
);

export type LongshoreConfig = z.output<typeof LongshoreConfig>;
/** What may be written in the file: every key optional where it has a default. */
export type LongshoreConfigInput = z.input<typeof LongshoreConfig>;
export type AgentConfig = LongshoreConfig['agent'];
export type ResourceClassConfig = AgentConfig['resourceClasses'][string];

/**
 * Settings that are valid but probably wrong, for a service to log at start. They are not
 * errors because CircleCI's chart accepts them, and its values must work unchanged here.
 */
export function configWarnings(cfg: LongshoreConfig): string[] {
  const a = cfg.agent;
  const out: string[] = [...a.keyWarnings];
  // Seed 000: a GC threshold not longer than the max run time lets GC delete running task pods.
  if (a.gc.enabled && a.gc.threshold <= a.maxRunTime) {
    out.push(
      'agent.gc.threshold is not longer than agent.maxRunTime: garbage collection may delete running task pods',
    );
  }
  return out;
}
export type GcConfig = AgentConfig['gc'];
export type ConstraintCheckerConfig = AgentConfig['constraintChecker'];
export type TaskPodConfig = AgentConfig['taskPod'];
export type IdleWaitConfig = AgentConfig['idleWait'];
export type ProvisionerConfig = NonNullable<LongshoreConfig['provisioner']>;
export type ProvisionerClassConfig = z.output<typeof ProvisionerClass>;
export type BusConfig = LongshoreConfig['bus'];
export type RedisConfig = LongshoreConfig['redis'];
export type KubeSettings = LongshoreConfig['kube'];
export type HttpConfig = LongshoreConfig['http'];
export type LoggingConfig = LongshoreConfig['logging'];
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Env variables that override single keys of LongshoreConfig (before LONGSHORE__ overrides). */
export const LONGSHORE_ENV_ALIASES: Readonly<Record<string, string>> = {
  NATS_URL: 'bus.url',
  REDIS_URL: 'redis.url',
};

/**
 * Every literal secret in a parsed config (resource class tokens, the CircleCI API token,
 * passwords in the NATS and Redis URLs), for a log scrubber to redact. Tokens from Secrets
 * the config only names (customSecret, existingSecret) are the caller's to add.
 */
export function configSecrets(cfg: LongshoreConfig): string[] {
  const out = new Set<string>();
  const add = (s: string | undefined) => {
    if (s) out.add(s);
  };
  for (const rc of Object.values(cfg.agent.resourceClasses)) add(rc.token);
  if (cfg.provisioner) {
    add(cfg.provisioner.circleToken);
    add(cfg.provisioner.resourceClass?.token);
    for (const rc of cfg.provisioner.resourceClasses) add(rc.token);
  }
  for (const server of natsServers(cfg.bus.url)) {
    const creds = urlCredentials(server);
    add(creds.password);
    // nats://<token>@host (or tls://) carries a token as the user part; a user name alone is
    // not secret elsewhere, but we cannot tell the two apart here.
    if (!creds.password) add(creds.username);
  }
  add(urlCredentials(cfg.redis.url).password);
  return [...out];
}

function urlCredentials(url: string): { username?: string; password?: string } {
  try {
    const u = new URL(url.includes('://') ? url : `nats://${url}`);
    return { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
  } catch {
    return {};
  }
}

/** Adds a problem found by a check of values.ts, if there is one. */
function problemIssue(problem: string | undefined, ctx: z.RefinementCtx): void {
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
}

/** Runs a validator from @longshore/contracts (which throws) as a zod check, keeping its message. */
function validateWith(check: () => unknown, ctx: z.RefinementCtx): void {
  try {
    check();
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
  }
}
