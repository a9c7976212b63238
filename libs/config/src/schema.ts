// The Longshore configuration file (docs/config.md is its reference; keep the two in step).
// It accepts the seeds' Helm values unchanged: `agent.*` of CircleCI's container-agent
// chart and `provisioner.*` of the Runner Provisioner chart, plus blocks of our own.
// Durations are Go strings in the file and milliseconds once parsed.
import { assertPrefix, ResourceClassName, redisKeys } from '@longshore/contracts';
import { z } from 'zod';
import { block } from './blocks.ts';
import { duration, formatDuration, optionalDuration } from './duration.ts';
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
  return z
    .string()
    .superRefine((u, ctx) => problemIssue(httpBaseUrlProblem(u, tokenKeys), ctx))
    .transform((u) => u.replace(/\/+$/, ''));
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
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name (lowercase DNS label)');

// ---------------------------------------------------------------- agent (container runner)

/** One entry of `agent.resourceClasses`: seed 000, plus our per-class concurrency cap. */
const ResourceClassEntry = block(
  {
    /** Resource class token; may instead come from `agent.customSecret`. */
    token: optionalToken(),
    /** Task pod metadata (labels, annotations), merged into every task pod. */
    metadata: OpaqueRecord.optional(),
    /** Any Pod spec fields; container-agent's overwritten fields are overwritten by us too. */
    spec: ClassPodSpec.optional(),
    enableUnsafeRetries: z.boolean().default(false),
    /** Longshore extension: at most this many tasks of this class at once (within agent.maxConcurrentTasks). */
    maxConcurrentTasks: z.int().min(1).optional(),
  },
  { unknownKeys: 'lenient' },
);

const GcBlock = block(
  {
    enabled: z.boolean().optional(),
    interval: optionalDuration({ allowZero: false }),
    threshold: optionalDuration({ allowZero: false }),
    /** Longshore extension: ceiling on the GC's Kubernetes requests (lists and deletes) per second. */
    maxRequestsPerSecond: z.number().positive().default(20),
    /** Longshore extension: objects deleted per batch; shutdown stops a sweep between batches. */
    batchSize: z.int().min(1).default(100),
    /** Longshore extension: how long a claim may have no pod before it is re-announced or interrupted. */
    claimGrace: duration({ allowZero: false }).prefault('3m'),
    /** Longshore extension: how old a labelled pod or task Secret must be before it counts as orphaned. */
    orphanGrace: duration({ allowZero: false }).prefault('1m'),
  },
  { unknownKeys: 'lenient' },
);

const ConstraintCheckerBlock = block(
  {
    enable: z.boolean().default(false),
    threshold: z.int().min(1).default(3),
    interval: duration({ allowZero: false }).prefault('15m'),
    /** Longshore extension: re-check this long after the last node change (unset: 2s). */
    debounce: optionalDuration(),
  },
  { unknownKeys: 'lenient' },
);

/** Longshore extension: images and paths of the task pod's injected parts. */
const TaskPodBlock = block(
  {
    /** Init container that copies the orchestrator and task agent into the shared volume. */
    initImage: z.string().min(1).default('circleci/runner-init:agent'),
    /** Where the shared volume is mounted in the init container and container 0. */
    binDir: z.string().startsWith('/', 'must be an absolute path').default('/opt/circleci/bin'),
    /** Image of the logging container added when a job has service containers. */
    loggingImage: z.string().min(1).default('circleci/logging-collector:3'),
    /**
     * A service-account-token Secret (the chart's logging.serviceAccount.secret.name) that the
     * logging container mounts as its Kubernetes credentials; unset, it gets the pod's own.
     */
    loggingTokenSecret: optionalString(),
    /** A task pod that cannot pull its image for this long fails its task. */
    imagePullTimeout: duration({ allowZero: false }).prefault('2m'),
    /** A task pod the cluster cannot schedule for this long fails its task. */
    unschedulableTimeout: duration({ allowZero: false }).prefault('10m'),
    /** Keep the pods (and Secrets) of failed tasks for debugging; GC still sweeps them. */
    keepFailedPods: z.boolean().default(false),
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
    resourceClasses: z.record(ResourceClassName, ResourceClassEntry).default({}),
    customSecret: optionalString(),
    maxConcurrentTasks: z.int().min(1).default(20),
    maxRunTime: duration({ allowZero: false }).prefault('5h'),
    terminationGracePeriodSeconds: z.int().min(0).default(18300),
    gc: GcBlock.prefault({}),
    /** The chart's older names for gc.enabled and gc.threshold (seed 000); they win over gc.* as in its chart. */
    kubeGCEnabled: z.boolean().optional(),
    kubeGCThreshold: optionalDuration({ allowZero: false }),
    constraintChecker: ConstraintCheckerBlock.prefault({}),
    autodetectPlatform: z.boolean().default(true),
    runnerAPI: baseUrl('agent.resourceClasses.<class>.token or agent.customSecret').prefault(
      'https://runner.circleci.com',
    ),
    /**
     * The runner's name in CircleCI's inventory, shared by every replica; "" means the
     * Deployment's name, else the host name (libs/runtime/src/names.ts). Not an identity.
     */
    name: z.string().default(''),
    /** Longshore extension: namespace for task pods and Secrets. Unset: the caller decides. */
    namespace: DnsLabel.optional(),
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
    name: ResourceClassName,
    token: optionalToken(),
    /** How long a VM waits for a job before shutting down; unset means forever. */
    idleTimeout: optionalDuration(),
    minReplicas: z.int().min(0).default(PROVISIONER_DEFAULTS.minReplicas),
    maxReplicas: z.int().min(0).default(PROVISIONER_DEFAULTS.maxReplicas),
    spec: OpaqueRecord.default(defaultVmSpec),
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
    circleciAPIAddr: baseUrl('provisioner.circleToken or provisioner.existingSecret').prefault(
      'https://runner.circleci.com',
    ),
    /** CircleCI API token for task counts; ignored when existingSecret is set. */
    circleToken: optionalToken(),
    /** A Secret with keys `circle-token` and `config.yaml`; see parseProvisionerSecret. */
    existingSecret: optionalString(),
    /** Namespace where runner VMs are created. */
    namespace: DnsLabel.optional(),
    /** Seed 002's form: one resource class. */
    resourceClass: ProvisionerClass.optional(),
    /** Longshore extension: several resource classes in one deployment. */
    resourceClasses: z.array(ProvisionerClass).default([]),
    /** Longshore extension: pause between polls of each class's task counts (seed 002: one second). */
    pollInterval: duration({ allowZero: false }).prefault('1s'),
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
    /** NATS server URL(s), comma-separated; env NATS_URL overrides. natsServers() splits it. */
    url: z
      .string()
      .superRefine((u, ctx) => problemIssue(natsUrlProblem(u), ctx))
      .default('nats://127.0.0.1:4222'),
    /** Subject prefix, so deployments and tests can share one NATS server. */
    prefix: z
      .string()
      .default('longshore')
      .superRefine((p, ctx) => validateWith(() => assertPrefix(p), ctx)),
    /**
     * Copies JetStream keeps of the event stream and of every KV bucket: 3 on a three-node
     * cluster, so losing one NATS server loses nothing. JetStream's own limit is 5; more
     * than 1 needs a clustered JetStream with at least that many servers.
     */
    replicas: z.int().min(1).max(5).default(1),
  },
  { unknownKeys: 'strict' },
);

const Redis = block(
  {
    /** redis:// or rediss:// URL; env REDIS_URL overrides. */
    url: z
      .string()
      .superRefine((u, ctx) => problemIssue(redisUrlProblem(u), ctx))
      .default('redis://127.0.0.1:6379'),
    keyPrefix: z
      .string()
      .default('longshore')
      .superRefine((p, ctx) => validateWith(() => redisKeys(p), ctx)),
  },
  { unknownKeys: 'strict' },
);

const Kube = block(
  {
    /** Default namespace for the objects we manage when a more specific one is unset. */
    namespace: DnsLabel.optional(),
    /** Path of a kubeconfig file; unset means KUBECONFIG, then in-cluster. */
    kubeconfig: optionalString(),
  },
  { unknownKeys: 'strict' },
);

const Http = block(
  {
    host: z.string().min(1).default('0.0.0.0'),
    port: z.int().min(0).max(65535).default(8080),
  },
  { unknownKeys: 'strict' },
);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const Logging = block(
  { level: z.enum(LOG_LEVELS).default('info') },
  // The container-agent chart's top-level `logging` configures its logging containers.
  { unknownKeys: 'lenient', chartKeys: ['image', 'serviceAccount', 'rbac'] },
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
