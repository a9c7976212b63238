// The task pod and its Secret, built by one pure function from (resource class config,
// task config, runner settings): DESIGN.md "Task pod". The layout is container-agent 3.1+'s
// as far as CircleCI's public runner-init image shows, so a real CircleCI job can run in it:
//
//   initContainers: circleci-init (runner-init: copies orchestrator + circleci-agent into
//                   the shared volume), then the user's own init containers
//   containers:     container-0 (job image; PID 1 is `orchestrator run-task`, configured by
//                   CIRCLECI_GOAT_CONFIG from the Secret), then one per service container,
//                   then circleci-logging when there are service containers
//   Secret:         goat-config = the orchestrator's JSON settings, holding the task token;
//                   with registry logins also .dockerconfigjson, and then of type
//                   kubernetes.io/dockerconfigjson and in the pod's imagePullSecrets
//
// Everything else comes from the resource class's `metadata` and `spec`, which take any
// Pod fields (seed 000); we overwrite only the fields the seeds list as overwritten.
import { posix } from 'node:path';
import type {
  V1Affinity,
  V1Container,
  V1EnvVar,
  V1HostAlias,
  V1ObjectMeta,
  V1Pod,
  V1PodSpec,
  V1ResourceRequirements,
  V1Secret,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import {
  Annotations,
  GOAT_CONFIG_ENV,
  GOAT_CONFIG_SECRET_KEY,
  GoatConfig,
  type JobContainer,
  Labels,
  MANAGED_BY,
  PRIMARY_CONTAINER,
  resourceClassLabel,
  type TaskConfig,
  taskIdLabel,
  taskObjectName,
  WARNINGS_ANNOTATION,
} from '@longshore/contracts';
import {
  asKube,
  isRecord,
  namesOf,
  type Path,
  recordAt,
  recordListAt,
  stringMapAt,
  TaskPodError,
  upsertByName,
} from './merge.ts';
import { type Platform, withPlatformAffinity } from './platform.ts';
import { dockerConfigJson, type RegistryLogin } from './registry-auth.ts';

export { TaskPodError } from './merge.ts';
export type { Platform } from './platform.ts';

/** The init container that puts the orchestrator and task agent into the shared volume. */
export const INIT_CONTAINER = 'circleci-init';
/** Added when a job has service containers; streams their logs (seed 000, "Logging containers"). */
export const LOGGING_CONTAINER = 'circleci-logging';
/** Shared emptyDir holding the orchestrator and circleci-agent, mounted at taskPod.binDir. */
export const BIN_VOLUME = 'circleci-bin';
/**
 * Shared emptyDir for the readiness file, in container 0 and the logging container only.
 * Which process creates the file is not public; the logging container is the one placed
 * to (it watches the service containers and exists exactly when the orchestrator waits),
 * so it must share a volume with container 0. A volume of its own rather than BIN_VOLUME:
 * mounting binDir into an image we do not build could shadow that image's own files.
 * The path is the one runner-init's own tests use.
 */
export const STATUS_VOLUME = 'circleci-status';
export const STATUS_DIR = '/opt/circleci/status';
/**
 * With service containers, `orchestrator run-task` waits (up to 10 minutes) for this file
 * before it starts the task agent, so steps do not run before their databases are up.
 */
export const READINESS_FILE = `${STATUS_DIR}/ready`;
/**
 * With taskPod.loggingTokenSecret set: that Secret (a service-account token, ca.crt and
 * namespace) mounted where Kubernetes clients look for in-cluster credentials, in the
 * logging container only. The ServiceAccount admission plugin leaves a container that
 * already mounts this path alone, so the pod's own account does not shadow it.
 */
export const LOGGING_TOKEN_VOLUME = 'circleci-logging-token';
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The logging container's requests and limits: seed 000's defaults. */
export const LOGGING_RESOURCES = {
  requests: { cpu: '50m', memory: '64Mi' },
  limits: { cpu: '100m', memory: '128Mi' },
} as const satisfies V1ResourceRequirements;
/**
 * The uid our injected containers run as when the pod demands runAsNonRoot without a
 * runAsUser (seed 000's first example does): runner-init is a FROM-scratch image with no
 * USER, which the kubelet would refuse to start as root. 65532 is the customary "nonroot".
 */
export const INJECTED_NON_ROOT_UID = 65532;
// The orchestrator serves /live and /ready on :7623 (runner-init's --health-check-addr).
// We add no probes or ports for it: the pod stays minimal, the runner watches container
// states, and a user who wants a liveness probe can put one on containers[0].

/** Container fields of the user's containers[0] that are not copied to service containers. */
const NOT_FOR_SERVICES = [
  // ours or the job's: the seeds overwrite these on container 0, and a service container
  // gets its own from the job config
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  // about the process in container 0 (often the orchestrator's port 7623): on a database
  // image they would fail its probes or, with a hostPort, make the pod invalid
  'ports',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
];

export interface TaskPodInput {
  taskId: string;
  attempt: number;
  resourceClass: string;
  allocation: string;
  token: string;
  /** From the Runner API. */
  task: TaskConfig;
  classConfig: {
    metadata?: Record<string, unknown>;
    spec?: Record<string, unknown>;
    enableUnsafeRetries: boolean;
  };
  settings: {
    namespace: string;
    runnerApiUrl: string;
    maxRunTimeMs: number;
    taskPod: {
      initImage: string;
      binDir: string;
      loggingImage: string;
      loggingTokenSecret?: string | undefined;
    };
    /** autodetectPlatform: the OS/arch pairs the primary image supports; undefined = no constraint. */
    platforms?: Platform[];
  };
  /**
   * ECR logins fetched for the containers with `aws_auth`, by container index (registry-auth.ts).
   * Containers with `auth` need none: their login is in the task config.
   */
  registryLogins?: Readonly<Record<number, RegistryLogin>>;
}

/** What buildTaskPod makes. */
export interface TaskPodObjects {
  secret: V1Secret;
  pod: V1Pod;
  /**
   * What the pod could not give the job as its config asked, one sentence each; also on
   * the pod (WARNINGS_ANNOTATION) and in the task.scheduled event.
   */
  warnings: string[];
}

/** Kubernetes' type for a Secret holding a docker config, and that config's key. */
export const DOCKER_CONFIG_SECRET_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CONFIG_KEY = '.dockerconfigjson';

/**
 * The Secret and Pod for one attempt of a task; create the Secret first. Pure: the input
 * is not modified and nothing is read from outside. The token and registry logins are in
 * the Secret only. Throws TaskPodError when no valid pod can be made from the input.
 */
export function buildTaskPod(input: TaskPodInput): TaskPodObjects {
  const { taskId, attempt, task, settings } = input;
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new TaskPodError([], `attempt must be a non-negative integer, not ${attempt}`);
  }
  if (task.task_id !== taskId) {
    throw new TaskPodError([], `the task config is for task ${task.task_id}, not ${taskId}`);
  }
  checkBinDir(settings.taskPod.binDir);
  const name = taskObjectName(taskId, attempt);
  const classPath: Path = ['agent', 'resourceClasses', input.resourceClass];
  const [primaryJob, ...serviceJobs] = task.containers;
  if (primaryJob === undefined) throw new TaskPodError([], 'the task config has no containers');

  const warnings: string[] = [];
  const metadata = podMetadata(input, name, classPath);
  const spec = podSpec(input, name, primaryJob, serviceJobs, [...classPath, 'spec'], warnings);
  const goat = goatConfig(input, primaryJob, serviceJobs.length > 0 ? READINESS_FILE : '', warnings);
  // One Secret for the orchestrator's settings and the registry logins: a task with
  // logins costs no more apiserver writes than one without, and both go when the task does.
  const dockerConfig = dockerConfigJson(registryLogins(input));
  if (dockerConfig !== undefined) {
    spec.imagePullSecrets = [
      ...asKube<NonNullable<V1PodSpec['imagePullSecrets']>>(
        recordListAt(input.classConfig.spec ?? {}, 'imagePullSecrets', [...classPath, 'spec']),
      ),
      { name },
    ];
  }
  // Ours alone, like the other annotations we set: one the class's metadata had is dropped.
  const { [WARNINGS_ANNOTATION]: _theirs, ...annotations } = metadata.annotations ?? {};
  metadata.annotations =
    warnings.length > 0 ? { ...annotations, [WARNINGS_ANNOTATION]: JSON.stringify(warnings) } : annotations;

  const secret: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: settings.namespace,
      labels: { ...metadata.labels },
      // Not the user's annotations: those are for the pod (sidecar injectors, cost tags).
      annotations: ourAnnotations(input),
    },
    // The apiserver requires a valid DOCKER_CONFIG_KEY in a Secret of this type, and
    // allows other keys beside it; the kubelet reads only that key for pulls.
    type: dockerConfig === undefined ? 'Opaque' : DOCKER_CONFIG_SECRET_TYPE,
    // Written once per attempt and never changed (a retry is a new attempt, a new name);
    // immutable also spares the kubelet from watching it.
    immutable: true,
    stringData: {
      [GOAT_CONFIG_SECRET_KEY]: JSON.stringify(goat),
      ...(dockerConfig === undefined ? {} : { [DOCKER_CONFIG_KEY]: dockerConfig }),
    },
  };
  const pod: V1Pod = { apiVersion: 'v1', kind: 'Pod', metadata, spec };
  return { secret, pod, warnings };
}

/** Each container's login with its image: from `auth`, or fetched for `aws_auth`. */
function registryLogins(input: TaskPodInput): { image: string; login: RegistryLogin }[] {
  return input.task.containers.flatMap((c, i) => {
    if (c.auth !== undefined) return [{ image: c.image, login: c.auth }];
    if (c.aws_auth === undefined) return [];
    const login = input.registryLogins?.[i];
    if (login === undefined) throw new TaskPodError([], `no ECR login was fetched for container ${i}`);
    return [{ image: c.image, login }];
  });
}

function checkBinDir(binDir: string): void {
  // The orchestrator splits task_agent_path on spaces to build the agent's command line.
  if (!posix.isAbsolute(binDir) || /\s/.test(binDir)) {
    throw new TaskPodError(
      ['agent', 'taskPod', 'binDir'],
      `must be an absolute path without spaces, not ${JSON.stringify(binDir)}`,
    );
  }
}

// ------------------------------------------------------------------------------ metadata

/** Ours, on top of any the user set with the same keys: GC and watches select on these. */
function ourLabels(input: TaskPodInput): Record<string, string> {
  const rc = resourceClassLabel(input.resourceClass);
  return {
    [Labels.managedBy]: MANAGED_BY,
    [Labels.taskId]: taskIdLabel(input.taskId),
    [Labels.attempt]: String(input.attempt),
    // A class name too long or oddly ended for a label value is left to the annotation,
    // rather than making every pod of the class invalid.
    ...(isLabelValue(rc) ? { [Labels.resourceClass]: rc } : {}),
  };
}

function ourAnnotations(input: TaskPodInput): Record<string, string> {
  return { [Annotations.taskId]: input.taskId, [Annotations.resourceClass]: input.resourceClass };
}

/** The user's metadata kept, except what identifies the object, which is ours. */
function podMetadata(input: TaskPodInput, name: string, classPath: Path): V1ObjectMeta {
  const path = [...classPath, 'metadata'];
  const meta = structuredClone(input.classConfig.metadata ?? {});
  if (!isRecord(meta)) throw new TaskPodError(path, 'must be a mapping');
  const labels = stringMapAt(meta, 'labels', path);
  const annotations = stringMapAt(meta, 'annotations', path);
  for (const key of Object.values(Labels)) delete labels[key];
  delete meta.generateName;
  return {
    ...meta,
    name,
    namespace: input.settings.namespace,
    labels: { ...labels, ...ourLabels(input) },
    annotations: { ...annotations, ...ourAnnotations(input) },
  };
}

// ------------------------------------------------------------------------------ pod spec

function podSpec(
  input: TaskPodInput,
  name: string,
  primaryJob: JobContainer,
  serviceJobs: readonly JobContainer[],
  specPath: Path,
  warnings: string[],
): V1PodSpec {
  const { binDir, initImage, loggingImage, loggingTokenSecret } = input.settings.taskPod;
  const spec = structuredClone(input.classConfig.spec ?? {});
  if (!isRecord(spec)) throw new TaskPodError(specPath, 'must be a mapping');
  const templatePath = [...specPath, 'containers', 0];
  // Seed 000: "the first container spec is used for all containers within the task pod".
  // Any further user containers have no job container to run, so they are not used.
  const template = recordListAt(spec, 'containers', specPath)[0] ?? {};
  const templateEnv = recordListAt(template, 'env', templatePath);
  const templateMounts = recordListAt(template, 'volumeMounts', templatePath);
  const userInit = recordListAt(spec, 'initContainers', specPath);
  const userVolumes = recordListAt(spec, 'volumes', specPath);
  checkReserved(userVolumes, userInit, templateMounts, binDir, specPath);
  const hasServices = serviceJobs.length > 0;
  const loggingToken = hasServices && loggingTokenSecret !== undefined;
  const injectedSc = injectedSecurityContext(spec, specPath);

  const binMount = (): V1VolumeMount => ({ name: BIN_VOLUME, mountPath: binDir });
  const statusMount = (): V1VolumeMount => ({ name: STATUS_VOLUME, mountPath: STATUS_DIR });

  const init: V1Container = {
    name: INIT_CONTAINER,
    image: initImage,
    command: ['/orchestrator', 'init'],
    // runner-init's `init` copies to $DESTINATION (default /opt/circleci/bin); binDir is configurable.
    env: [{ name: 'DESTINATION', value: binDir }],
    volumeMounts: [binMount()],
    ...(injectedSc ? { securityContext: { ...injectedSc } } : {}),
  };

  const primary = structuredClone(template);
  // The task agent changes into the job's working_directory (from the task config) by
  // itself; container 0 starts in the image's own WORKDIR, as container-agent's does.
  delete primary.workingDir;
  const goatEnv: V1EnvVar = {
    name: GOAT_CONFIG_ENV,
    valueFrom: { secretKeyRef: { name, key: GOAT_CONFIG_SECRET_KEY } },
  };
  const container0 = asKube<V1Container>({
    ...primary,
    name: PRIMARY_CONTAINER,
    image: primaryJob.image,
    command: [posix.join(binDir, 'orchestrator')],
    args: ['run-task'],
    // Not the job's environment: the task agent gets that from CircleCI, and it may hold
    // secrets, which do not belong in a pod spec anyone with `get pods` can read.
    env: upsertByName(asKube<V1EnvVar[]>(structuredClone(templateEnv)), goatEnv),
    volumeMounts: [...structuredClone(templateMounts), binMount(), ...(hasServices ? [statusMount()] : [])],
  });

  const taken = new Set([PRIMARY_CONTAINER, LOGGING_CONTAINER, INIT_CONTAINER, ...namesOf(userInit)]);
  const users = userPolicy(spec, template, specPath, templatePath);
  const services = serviceJobs.map((job, k) => {
    const c = serviceContainer(template, templateEnv, job, serviceName(job, k + 1, taken));
    const sc = serviceSecurityContext(c, job, users, warnings);
    return sc === undefined ? c : { ...c, securityContext: sc };
  });
  const logging: V1Container[] = hasServices
    ? [
        {
          name: LOGGING_CONTAINER,
          image: loggingImage,
          resources: structuredClone(LOGGING_RESOURCES),
          volumeMounts: [
            statusMount(),
            ...(loggingToken
              ? [{ name: LOGGING_TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true }]
              : []),
          ],
          ...(injectedSc ? { securityContext: { ...injectedSc } } : {}),
        },
      ]
    : [];

  const out = asKube<V1PodSpec>(spec);
  out.initContainers = [init, ...asKube<V1Container[]>(userInit)];
  out.containers = [container0, ...services, ...logging];
  out.volumes = [
    ...asKube<V1Volume[]>(userVolumes),
    { name: BIN_VOLUME, emptyDir: {} },
    ...(hasServices ? [{ name: STATUS_VOLUME, emptyDir: {} }] : []),
    ...(loggingToken ? [{ name: LOGGING_TOKEN_VOLUME, secret: { secretName: loggingTokenSecret } }] : []),
  ];
  out.restartPolicy = 'Never';
  out.activeDeadlineSeconds = activeDeadline(spec, input.settings.maxRunTimeMs, specPath);
  const aliases = serviceHostAliases(spec, serviceJobs, specPath);
  if (aliases !== undefined) out.hostAliases = aliases;
  if (input.settings.platforms !== undefined) {
    const affinity = withPlatformAffinity(checkedAffinity(spec, specPath), input.settings.platforms);
    if (affinity !== undefined) out.affinity = affinity;
  }
  return out;
}

/** Names and paths we inject must not already be in the user's spec. */
function checkReserved(
  volumes: readonly Record<string, unknown>[],
  initContainers: readonly Record<string, unknown>[],
  templateMounts: readonly Record<string, unknown>[],
  binDir: string,
  specPath: Path,
): void {
  volumes.forEach((v, i) => {
    if (v.name === BIN_VOLUME || v.name === STATUS_VOLUME || v.name === LOGGING_TOKEN_VOLUME) {
      throw new TaskPodError(
        [...specPath, 'volumes', i, 'name'],
        `"${v.name}" is reserved for a volume the runner adds to task pods; rename it`,
      );
    }
  });
  initContainers.forEach((c, i) => {
    if (c.name === INIT_CONTAINER || c.name === PRIMARY_CONTAINER || c.name === LOGGING_CONTAINER) {
      throw new TaskPodError(
        [...specPath, 'initContainers', i, 'name'],
        `"${c.name}" is reserved for a container the runner adds; rename it`,
      );
    }
  });
  const reservedPaths = [samePath(binDir), STATUS_DIR];
  templateMounts.forEach((m, i) => {
    if (typeof m.mountPath === 'string' && reservedPaths.includes(samePath(m.mountPath))) {
      throw new TaskPodError(
        [...specPath, 'containers', 0, 'volumeMounts', i, 'mountPath'],
        `${m.mountPath} is where the runner mounts the task agent's shared volume; use another path`,
      );
    }
  });
}

/** A path in the one spelling that compares equal for the same directory. */
function samePath(p: string): string {
  return posix.normalize(p).replace(/(.)\/+$/, '$1');
}

/** See INJECTED_NON_ROOT_UID. Windows pods have no uids (and the apiserver rejects runAsUser there). */
function injectedSecurityContext(
  spec: Record<string, unknown>,
  specPath: Path,
): V1SecurityContext | undefined {
  const psc = recordAt(spec, 'securityContext', specPath) ?? {};
  const os = recordAt(spec, 'os', specPath)?.name;
  if (psc.runAsNonRoot !== true || psc.runAsUser !== undefined || os === 'windows') return undefined;
  return { runAsUser: INJECTED_NON_ROOT_UID };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The job's name for a service container when it is a valid, free container name; else container-<i>. */
function serviceName(job: JobContainer, index: number, taken: Set<string>): string {
  let name =
    job.name !== undefined && DNS_LABEL.test(job.name) && !taken.has(job.name) ? job.name : undefined;
  if (name === undefined) {
    name = `container-${index}`;
    for (let n = 1; taken.has(name); n++) name = `container-${index}-${n}`;
  }
  taken.add(name);
  return name;
}

/**
 * A service container: the user's containers[0] (resources, securityContext, volumeMounts,
 * env, ...) with the job's image, entrypoint, command and environment. Unlike container 0,
 * it is a plain container, so the job's environment for it is set here. It does not get
 * the shared volumes or the orchestrator's config.
 */
function serviceContainer(
  template: Record<string, unknown>,
  templateEnv: readonly Record<string, unknown>[],
  job: JobContainer,
  name: string,
): V1Container {
  const c = structuredClone(template);
  for (const key of NOT_FOR_SERVICES) delete c[key];
  let env = asKube<V1EnvVar[]>(structuredClone(templateEnv));
  for (const [k, v] of Object.entries(job.environment ?? {})) {
    env = upsertByName(env, { name: k, value: literalEnvValue(v) });
  }
  return asKube<V1Container>({
    ...c,
    name,
    image: job.image,
    ...(job.entrypoint !== undefined ? { command: [...job.entrypoint] } : {}),
    ...(job.command !== undefined ? { args: [...job.command] } : {}),
    ...(env.length > 0 ? { env } : {}),
  });
}

/** What bounds the users a service container may run as: the pod's OS and runAsNonRoot. */
interface UserPolicy {
  windows: boolean;
  /** Set on the pod or on the class's container template: uid 0 would not start. */
  nonRoot: boolean;
}

function userPolicy(
  spec: Record<string, unknown>,
  template: Record<string, unknown>,
  specPath: Path,
  templatePath: Path,
): UserPolicy {
  const psc = recordAt(spec, 'securityContext', specPath) ?? {};
  const csc = recordAt(template, 'securityContext', templatePath) ?? {};
  return {
    windows: recordAt(spec, 'os', specPath)?.name === 'windows',
    nonRoot: csc.runAsNonRoot === true || (csc.runAsNonRoot === undefined && psc.runAsNonRoot === true),
  };
}

/**
 * A Docker `user` as Kubernetes can run a container: `uid`, `uid:gid`, with `root` for 0.
 * Kubernetes takes numbers only (it never reads the image's /etc/passwd), so any other
 * name cannot be mapped: undefined.
 */
export function runAsOf(user: string): { runAsUser: number; runAsGroup?: number } | undefined {
  const parts = user.split(':');
  if (parts.length > 2) return undefined;
  const uid = numericId(parts[0]!);
  if (uid === undefined) return undefined;
  if (parts.length === 1) return { runAsUser: uid };
  const gid = numericId(parts[1]!);
  return gid === undefined ? undefined : { runAsUser: uid, runAsGroup: gid };
}

/** Kubernetes takes ids from 0 to 2^31 - 1. */
function numericId(s: string): number | undefined {
  if (s === 'root') return 0;
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 2_147_483_647 ? n : undefined;
}

/**
 * A service container's securityContext with the job's `user` in it (over the class
 * template's own runAsUser/runAsGroup); undefined when it stays as it is. A user that
 * cannot be mapped leaves the container to the image's own user, with a warning.
 */
function serviceSecurityContext(
  c: V1Container,
  job: JobContainer,
  policy: UserPolicy,
  warnings: string[],
): V1SecurityContext | undefined {
  if (job.user === undefined || job.user === '') return undefined;
  const who = `service container ${c.name} (${job.image})`;
  if (policy.windows) {
    warnings.push(
      `${who}: user ${JSON.stringify(job.user)} is not set on a Windows pod; it runs as the image's user`,
    );
    return undefined;
  }
  const ids = runAsOf(job.user);
  if (ids === undefined) {
    warnings.push(
      `${who}: user ${JSON.stringify(job.user)} is not a numeric uid[:gid] or root, and Kubernetes runs containers as numbers only; it runs as the image's user`,
    );
    return undefined;
  }
  if (ids.runAsUser === 0 && policy.nonRoot) {
    throw new TaskPodError(
      [],
      `${who} asks for user ${JSON.stringify(job.user)}, but the resource class's pod spec sets runAsNonRoot`,
    );
  }
  const sc: V1SecurityContext = { ...c.securityContext, runAsUser: ids.runAsUser };
  if (ids.runAsGroup === undefined) delete sc.runAsGroup;
  else sc.runAsGroup = ids.runAsGroup;
  return sc;
}

/**
 * The kubelet expands $(VAR) in env values and turns $$ into $. The job's environment
 * is meant literally (as Docker passes it), so every $ is doubled, which expands back to
 * exactly the value written.
 */
function literalEnvValue(v: string): string {
  return v.replaceAll('$', '$$$$');
}

/**
 * Service containers share the pod's network, so each is on 127.0.0.1; a job reaches one
 * by its `name` (the Docker executor's "name the container is reachable by"), which a host
 * alias provides. Not with hostNetwork, where the kubelet does not manage /etc/hosts.
 */
function serviceHostAliases(
  spec: Record<string, unknown>,
  serviceJobs: readonly JobContainer[],
  specPath: Path,
): V1HostAlias[] | undefined {
  if (spec.hostNetwork === true) return undefined;
  const hostnames = [
    ...new Set(
      serviceJobs.flatMap((j) => {
        const h = j.name?.toLowerCase();
        return h !== undefined && h.length <= 253 && DNS_SUBDOMAIN.test(h) ? [h] : [];
      }),
    ),
  ];
  if (hostnames.length === 0) return undefined;
  const user = asKube<V1HostAlias[]>(recordListAt(spec, 'hostAliases', specPath));
  return [...user, { ip: '127.0.0.1', hostnames }];
}

/** maxRunTime as the pod's deadline; a stricter deadline the user set is kept. */
function activeDeadline(spec: Record<string, unknown>, maxRunTimeMs: number, specPath: Path): number {
  if (!Number.isFinite(maxRunTimeMs) || maxRunTimeMs <= 0) {
    throw new TaskPodError(['agent', 'maxRunTime'], `must be positive, not ${maxRunTimeMs} ms`);
  }
  const ours = Math.ceil(maxRunTimeMs / 1000);
  const user = spec.activeDeadlineSeconds;
  if (user === undefined || user === null) return ours;
  if (typeof user !== 'number' || !Number.isSafeInteger(user) || user <= 0) {
    throw new TaskPodError([...specPath, 'activeDeadlineSeconds'], 'must be a positive integer');
  }
  return Math.min(user, ours);
}

/** The user's affinity, its required node terms checked for shape, since we merge into them. */
function checkedAffinity(spec: Record<string, unknown>, specPath: Path): V1Affinity | undefined {
  const affinity = recordAt(spec, 'affinity', specPath);
  if (affinity === undefined) return undefined;
  const path = [...specPath, 'affinity'];
  const nodeAffinity = recordAt(affinity, 'nodeAffinity', path);
  const required =
    nodeAffinity &&
    recordAt(nodeAffinity, 'requiredDuringSchedulingIgnoredDuringExecution', [...path, 'nodeAffinity']);
  if (required !== undefined) {
    const requiredPath = [...path, 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution'];
    recordListAt(required, 'nodeSelectorTerms', requiredPath).forEach((term, i) => {
      recordListAt(term, 'matchExpressions', [...requiredPath, 'nodeSelectorTerms', i]);
      recordListAt(term, 'matchFields', [...requiredPath, 'nodeSelectorTerms', i]);
    });
  }
  return asKube<V1Affinity>(affinity);
}

// ------------------------------------------------------------------------------ secret

/**
 * The orchestrator's custom entrypoint (`cmd`): the primary container's entrypoint then
 * its command, as Docker would run them (an entrypoint replaces the image's ENTRYPOINT and
 * its CMD, a command is the ENTRYPOINT's arguments). A command without an entrypoint runs
 * as it is: container 0's own entrypoint is the orchestrator, and the image's ENTRYPOINT
 * is not known here (it is in the image's config, in its registry), so it is not run.
 */
export function customEntrypoint(primary: Pick<JobContainer, 'entrypoint' | 'command'>): string[] {
  return [...(primary.entrypoint ?? []), ...(primary.command ?? [])];
}

/** The orchestrator's settings (CIRCLECI_GOAT_CONFIG), validated against the contract. */
function goatConfig(
  input: TaskPodInput,
  primaryJob: JobContainer,
  readinessFilePath: string,
  warnings: string[],
): GoatConfig {
  const { task, settings } = input;
  if (
    primaryJob.entrypoint === undefined &&
    primaryJob.command !== undefined &&
    primaryJob.command.length > 0
  ) {
    warnings.push(
      `primary container (${primaryJob.image}): a command without an entrypoint is started as it is; the image's own ENTRYPOINT is not run`,
    );
  }
  const user = primaryJob.user ?? '';
  // runner-init's orchestrator switches to the user by looking its name up in the image's
  // /etc/passwd; a number or a `user:group` is looked up as a name too, and when that
  // fails it logs it and runs the task agent as the container's own user.
  if (/^\d+$/.test(user) || user.includes(':')) {
    warnings.push(
      `primary container (${primaryJob.image}): user ${JSON.stringify(user)} goes to the orchestrator, which finds users by name; unless the image has a user of that name, the steps run as the image's user`,
    );
  }
  const parsed = GoatConfig.safeParse({
    cmd: customEntrypoint(primaryJob),
    user,
    task_id: input.taskId,
    readiness_file_path: readinessFilePath,
    enable_unsafe_retries: input.classConfig.enableUnsafeRetries,
    token: input.token,
    task_agent_path: posix.join(settings.taskPod.binDir, 'circleci-agent'),
    runner_api_base_url: settings.runnerApiUrl,
    allocation: input.allocation,
    ssh_advertise_addr: task.ssh_advertise_addr,
    max_run_time: Math.round(settings.maxRunTimeMs * 1e6),
  });
  if (!parsed.success) {
    // zod's messages name the field and the rule, never the value: safe with the token.
    const why = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new TaskPodError([], `invalid orchestrator settings: ${why}`, { cause: parsed.error });
  }
  return parsed.data;
}

function isLabelValue(v: string): boolean {
  return /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/.test(v);
}
