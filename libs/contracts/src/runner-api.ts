// Wire shapes of the CircleCI-compatible Runner API (DESIGN.md, "Runner API").
// Both our client and tools/runner-api-sim validate with these, so the two cannot drift.
//
// Everything a Runner API answers is hostile until it passes these schemas: ids become
// Redis keys, NATS header values, label values and pod names; a task config becomes a Pod
// and a Secret. So ids have a charset and a length, and a task config has limits (the
// MAX_* constants below, which docs and errors cite). Messages name the field and the
// rule, never the value: a value may be a token or a megabyte of garbage. A field that can
// hold many items (containers, arguments, environment) fails with one issue, not one per
// item, so a hostile answer cannot make the error itself huge.
import { z } from 'zod';
import { parseImageReference } from './image-ref.ts';

// ------------------------------------------------------------------------------ limits

/** Task tokens go into `Authorization: Bearer`; CircleCI's are far shorter. */
export const MAX_TASK_TOKEN_LENGTH = 4096;
/** Allocations are opaque ids (CircleCI's tests use "testallocation"). */
export const MAX_ALLOCATION_LENGTH = 256;
/** Task ids are UUIDs (36 characters) at CircleCI. */
export const MAX_TASK_ID_LENGTH = 128;
/** Resource class names, `<namespace>/<name>`; real ones are a few dozen characters. */
export const MAX_RESOURCE_CLASS_NAME_LENGTH = 255;
export const MAX_AGENT_VERSION_LENGTH = 128;
/**
 * Containers per task: the primary and its service containers, all in one pod on one
 * node. Real jobs have a handful; 32 is far beyond any of them, and keeps a pod in which
 * each container carries a copy of the class's container template (env, mounts,
 * resources) well inside the apiserver's object size limit.
 */
export const MAX_CONTAINERS = 32;
/**
 * Environment variables of a task, all containers together. Service containers' variables
 * are written into the Pod (etcd refuses objects over ~1.5 MiB); the primary's go to the
 * ledger in Redis. 256 KiB of names and values (UTF-8 bytes) leaves the rest of the Pod's
 * budget to the class's own spec, copied into every container; real jobs use a few KiB.
 */
export const MAX_ENVIRONMENT_BYTES = 256 * 1024;
export const MAX_ENVIRONMENT_VARIABLES = 4096;
/** Items of one `entrypoint` or `command`. */
export const MAX_COMMAND_ITEMS = 1024;
/**
 * Every container's `entrypoint` and `command`, all strings together (UTF-8 bytes). The
 * primary's go into the task's Secret (1 MiB at most) as the orchestrator's `cmd`, next to
 * its other settings; the service containers' go into the Pod beside the environment
 * above. Linux refuses a longer single argument anyway (MAX_ARG_STRLEN is 128 KiB).
 */
export const MAX_COMMAND_BYTES = 128 * 1024;
export const MAX_JOB_NAME_LENGTH = 1024;
/** PATH_MAX on Linux. */
export const MAX_WORKING_DIRECTORY_LENGTH = 4096;
/** `user` of a container: a name or `uid[:gid]`. */
export const MAX_USER_LENGTH = 256;
/**
 * A registry login's username. Docker joins username and password with `:` into the
 * `auth` of a docker config, so the username cannot hold one.
 */
export const MAX_REGISTRY_USERNAME_LENGTH = 1024;
/**
 * A registry login's password. Real ones are tokens of a few dozen to a few hundred
 * characters; the longest in common use, a Google service account key (`_json_key`), is
 * about 2.5 KB. Every container's login ends up in one Secret (1 MiB at most), so 32
 * containers of this much stay well inside it.
 */
export const MAX_REGISTRY_PASSWORD_LENGTH = 8192;
/** IAM's own limit on a role ARN. */
export const MAX_ROLE_ARN_LENGTH = 2048;
/** A DNS name (253) plus a port, or an IPv6 address in brackets. */
export const MAX_SSH_ADVERTISE_ADDR_LENGTH = 300;
/** A service container's `name`: a DNS name's maximum. */
export const MAX_CONTAINER_NAME_LENGTH = 253;

// ------------------------------------------------------------------------------ ids

/** Visible ASCII: safe in an HTTP header, where it goes (`Authorization: Bearer`). */
export const TaskToken = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_TASK_TOKEN_LENGTH, `must be at most ${MAX_TASK_TOKEN_LENGTH} characters`)
  .regex(/^[\x21-\x7e]*$/, 'must be visible ASCII (no whitespace, control or non-ASCII characters)');

/** Goes into JSON bodies, Redis keys and hash fields; never a header. */
export const Allocation = z
  .string()
  .max(MAX_ALLOCATION_LENGTH, `must be at most ${MAX_ALLOCATION_LENGTH} characters`)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:+/=-]*$/,
    'must be letters, digits and . _ : + / = - starting with a letter or digit',
  );
export type Allocation = z.infer<typeof Allocation>;

/**
 * A task id is a Redis key segment, a NATS header value (`Nats-Msg-Id`), an annotation,
 * and hashed into label values and pod names: no whitespace, no control characters, no
 * separators Redis or NATS give meaning to (space, `*`, `>`), bounded.
 */
export const TaskId = z
  .string()
  .max(MAX_TASK_ID_LENGTH, `must be at most ${MAX_TASK_ID_LENGTH} characters`)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
    'must be letters, digits and . _ : - starting with a letter or digit',
  );
export type TaskId = z.infer<typeof TaskId>;

/** Resource class names are `<namespace>/<name>`, as CircleCI spells them. */
export const ResourceClassName = z
  .string()
  .max(MAX_RESOURCE_CLASS_NAME_LENGTH, `must be at most ${MAX_RESOURCE_CLASS_NAME_LENGTH} characters`)
  .regex(/^[a-z0-9][a-z0-9_-]*\/[a-z0-9][a-z0-9_.-]*$/i, 'resource class must look like <namespace>/<name>');

// ------------------------------------------------------------------------------ claim

/** POST /api/v3/runner/claim request body. */
export const ClaimRequest = z.object({
  name: z.string().min(1),
  hostname: z.string(),
  ip: z.string(),
  version: z.string(),
});
export type ClaimRequest = z.infer<typeof ClaimRequest>;

/** POST /api/v3/runner/claim, 200 response. (204 means no work.) */
export const ClaimResponse = z.object({
  task_token: TaskToken,
  // May be empty: nothing depends on it, and refusing a claim over it would strand the task.
  agent_version: z
    .string()
    .max(MAX_AGENT_VERSION_LENGTH, `must be at most ${MAX_AGENT_VERSION_LENGTH} characters`)
    .regex(/^[\x21-\x7e]*$/, 'must be visible ASCII'),
  resource_class: ResourceClassName,
  allocation: Allocation,
});
export type ClaimResponse = z.infer<typeof ClaimResponse>;

// ------------------------------------------------------------------------------ task config

/** A one-line string of bounded length: no control characters (a newline included). */
const line = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .regex(/^\P{Cc}*$/u, 'must not contain control characters');

/** A reference a container runtime can pull (image-ref.ts); the reason names the rule broken. */
export const ImageReferenceText = z.string().superRefine((image, ctx) => {
  const parsed = parseImageReference(image);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `not an image reference: ${parsed.reason}` });
});

/**
 * Kubernetes' (pre-1.32) environment variable name rule: what every apiserver accepts.
 * Not a zod schema of its own: names are checked inside JobEnvironment so that an issue
 * never has a (hostile, possibly huge) variable name in its path.
 */
export const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** `{NAME: value}` with valid names and string values, checked with one issue per rule. */
export const JobEnvironment = z.custom<Record<string, string>>().superRefine((env, ctx) => {
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    ctx.addIssue({
      code: 'custom',
      continue: false,
      message: `must be an object of strings, not ${typeName(env)}`,
    });
    return;
  }
  let badNames = 0;
  let badValues = 0;
  for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
    if (!ENV_VAR_NAME.test(name)) badNames++;
    if (typeof value !== 'string') badValues++;
  }
  if (badNames > 0) {
    ctx.addIssue({
      code: 'custom',
      continue: false,
      message: `${badNames} variable name(s) not valid for Kubernetes (${ENV_VAR_NAME.source})`,
    });
  }
  if (badValues > 0) {
    ctx.addIssue({ code: 'custom', continue: false, message: `${badValues} value(s) not strings` });
  }
});

/**
 * An argument list of at most MAX_COMMAND_ITEMS strings, with one issue per rule.
 * Issues here and in JobEnvironment stop further checks (`continue: false`): TaskConfig's
 * size checks below count strings, and must only see lists and maps of strings.
 */
const CommandList = z.custom<string[]>().superRefine((list, ctx) => {
  if (!Array.isArray(list)) {
    ctx.addIssue({
      code: 'custom',
      continue: false,
      message: `must be an array of strings, not ${typeName(list)}`,
    });
    return;
  }
  if (list.length > MAX_COMMAND_ITEMS) {
    ctx.addIssue({
      code: 'custom',
      continue: false,
      message: `must have at most ${MAX_COMMAND_ITEMS} items, not ${list.length}`,
    });
  }
  const notStrings = list.filter((item) => typeof item !== 'string').length;
  if (notStrings > 0)
    ctx.addIssue({ code: 'custom', continue: false, message: `${notStrings} item(s) not strings` });
});

/**
 * A container's `name`: what Docker accepts as a container name, bounded. Not stricter:
 * CircleCI jobs use names like `mongo_db`; the task pod uses a name that is a DNS label
 * as its container name and host alias, and falls back to `container-<i>` otherwise.
 */
export const ContainerName = z
  .string()
  .max(MAX_CONTAINER_NAME_LENGTH, `must be at most ${MAX_CONTAINER_NAME_LENGTH} characters`)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits and _ . - starting with a letter or digit');

/**
 * `auth` of a container (CircleCI's docker executor key): the docker login its image is
 * pulled with. The task pod gets it as an image pull secret; it is never logged.
 */
export const RegistryAuth = z.object({
  username: z
    .string()
    .min(1, 'must not be empty')
    .max(MAX_REGISTRY_USERNAME_LENGTH, `must be at most ${MAX_REGISTRY_USERNAME_LENGTH} characters`)
    .regex(/^[^:\p{Cc}]*$/u, 'must not contain a colon or control characters'),
  // Any characters: a Google service account key is a whole JSON document.
  password: z
    .string()
    .min(1, 'must not be empty')
    .max(MAX_REGISTRY_PASSWORD_LENGTH, `must be at most ${MAX_REGISTRY_PASSWORD_LENGTH} characters`),
});
export type RegistryAuth = z.infer<typeof RegistryAuth>;

/** An IAM role ARN, in any partition (aws, aws-cn, aws-us-gov, ...). */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

/**
 * `aws_auth` of a container: how to get an ECR login for its image. Either access keys,
 * or `oidc_role_arn`, a role to assume (what Longshore can do with one is in
 * libs/contracts/README.md: a runner has no CircleCI OIDC token of the job's).
 */
export const EcrAuth = z
  .object({
    aws_access_key_id: z
      .string()
      .regex(/^[A-Z0-9]{16,128}$/, 'must be 16 to 128 capital letters and digits')
      .optional(),
    aws_secret_access_key: z
      .string()
      .min(1, 'must not be empty')
      .max(128, 'must be at most 128 characters')
      .regex(/^[\x21-\x7e]*$/, 'must be visible ASCII')
      .optional(),
    oidc_role_arn: z
      .string()
      .max(MAX_ROLE_ARN_LENGTH, `must be at most ${MAX_ROLE_ARN_LENGTH} characters`)
      .regex(ROLE_ARN, 'must be an IAM role ARN, arn:aws:iam::<account>:role/<name>')
      .optional(),
  })
  .superRefine((a, ctx) => {
    const keys = a.aws_access_key_id !== undefined || a.aws_secret_access_key !== undefined;
    const bothKeys = a.aws_access_key_id !== undefined && a.aws_secret_access_key !== undefined;
    const role = a.oidc_role_arn !== undefined;
    if (keys === role || (keys && !bothKeys)) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs aws_access_key_id and aws_secret_access_key, or oidc_role_arn alone',
      });
    }
  });
export type EcrAuth = z.infer<typeof EcrAuth>;

/**
 * An ECR registry host, `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]` or the
 * dual-stack `<account>.dkr-ecr[-fips].<region>.on.aws`: what an `aws_auth` login is for.
 */
const ECR_HOST = /^(\d{12})\.dkr[.-]ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws)$/;

/** The account and region of an ECR registry host; undefined for any other host. */
export function ecrRegistry(host: string | undefined): { accountId: string; region: string } | undefined {
  const m = host === undefined ? null : ECR_HOST.exec(host);
  return m ? { accountId: m[1]!, region: m[2]! } : undefined;
}

/** One container of a job: index 0 is the primary container, the rest are service containers. */
export const JobContainer = z
  .object({
    image: ImageReferenceText,
    name: ContainerName.optional(),
    /** Docker semantics: replaces the image's ENTRYPOINT. */
    entrypoint: CommandList.optional(),
    /** Docker semantics: replaces the image's CMD (the arguments of its ENTRYPOINT). */
    command: CommandList.optional(),
    user: line(MAX_USER_LENGTH).optional(),
    environment: JobEnvironment.default({}),
    auth: RegistryAuth.optional(),
    aws_auth: EcrAuth.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.auth !== undefined && c.aws_auth !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['aws_auth'],
        message: 'a container has auth or aws_auth, not both',
      });
    }
    if (c.aws_auth !== undefined) {
      // An ECR login is good for its own registry only; the image says which one.
      const parsed = parseImageReference(c.image);
      if (parsed.ok && ecrRegistry(parsed.ref.domain) === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['aws_auth'],
          message:
            'is for ECR images, and the image is not in an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com)',
        });
      }
    }
  });
export type JobContainer = z.infer<typeof JobContainer>;

/**
 * GET /api/v2/task/config response. CircleCI does not publish this shape; this is ours,
 * kept close to what the task pod needs (libs/contracts/README.md describes every field
 * and limit).
 */
export const TaskConfig = z
  .object({
    task_id: TaskId,
    resource_class: ResourceClassName,
    job_name: line(MAX_JOB_NAME_LENGTH).default('build'),
    working_directory: line(MAX_WORKING_DIRECTORY_LENGTH).default('~/project'),
    // Counted before each container is checked: 500 bad containers are one issue, not 500.
    containers: z
      .array(z.unknown())
      .min(1, 'a task needs at least its primary container')
      .max(MAX_CONTAINERS, `a task has at most ${MAX_CONTAINERS} containers`)
      .pipe(z.array(JobContainer)),
    /** Where the orchestrator should advertise SSH for "rerun with SSH"; empty when off. */
    ssh_advertise_addr: line(MAX_SSH_ADVERTISE_ADDR_LENGTH).default(''),
  })
  .superRefine((task, ctx) => {
    const env = environmentSize(task.containers);
    if (env.bytes > MAX_ENVIRONMENT_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['containers'],
        message: `environment of all containers is ${env.bytes} bytes, over the limit of ${MAX_ENVIRONMENT_BYTES}`,
      });
    }
    if (env.count > MAX_ENVIRONMENT_VARIABLES) {
      ctx.addIssue({
        code: 'custom',
        path: ['containers'],
        message: `environment of all containers has ${env.count} variables, over the limit of ${MAX_ENVIRONMENT_VARIABLES}`,
      });
    }
    const commandBytes = commandSize(task);
    if (commandBytes > MAX_COMMAND_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `entrypoints and commands are ${commandBytes} bytes together, over the limit of ${MAX_COMMAND_BYTES}`,
      });
    }
  });
export type TaskConfig = z.infer<typeof TaskConfig>;

/** Names and values of every container's environment, in UTF-8 bytes, and their number. */
export function environmentSize(containers: readonly Pick<JobContainer, 'environment'>[]): {
  bytes: number;
  count: number;
} {
  let bytes = 0;
  let count = 0;
  for (const c of containers) {
    for (const [name, value] of Object.entries(c.environment ?? {})) {
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
      count++;
    }
  }
  return { bytes, count };
}

/** Every container's `entrypoint` and `command`, in UTF-8 bytes. */
export function commandSize(task: Pick<TaskConfig, 'containers'>): number {
  const lists = task.containers.flatMap((c) => [c.entrypoint ?? [], c.command ?? []]);
  let bytes = 0;
  for (const list of lists) for (const item of list) bytes += Buffer.byteLength(item);
  return bytes;
}

// ------------------------------------------------------------------------------ the rest

/**
 * POST /api/v3/runner/unclaim body. 404 = task cancelled, 409 = retries exhausted.
 * `task_id` is any id the API served, not only a TaskId: an API must take back what it
 * handed out, and our client never sends an id it did not accept as a TaskId.
 */
export const UnclaimRequest = z.object({ task_id: z.string().min(1), task_token: TaskToken });
export type UnclaimRequest = z.infer<typeof UnclaimRequest>;

/**
 * POST /api/v2/task/event/fail body. `message` is base64 of the UTF-8 text. `allocation`
 * is whatever the API served, as with UnclaimRequest's `task_id`.
 */
export const FailEvent = z.object({
  allocation: z.string().min(1),
  timestamp: z.number().int().nonnegative(),
  message: z.base64(),
});
export type FailEvent = z.infer<typeof FailEvent>;

/** GET /api/v3/runner/tasks?resource-class= */
export const UnclaimedCount = z.object({ unclaimed_task_count: z.number().int().nonnegative() });
export type UnclaimedCount = z.infer<typeof UnclaimedCount>;

/** GET /api/v3/runner/tasks/running?resource-class= */
export const RunningCount = z.object({ running_runner_tasks: z.number().int().nonnegative() });
export type RunningCount = z.infer<typeof RunningCount>;

export const RunnerApiPaths = {
  claim: '/api/v3/runner/claim',
  unclaim: '/api/v3/runner/unclaim',
  taskConfig: '/api/v2/task/config',
  fail: '/api/v2/task/event/fail',
  unclaimedCount: '/api/v3/runner/tasks',
  runningCount: '/api/v3/runner/tasks/running',
} as const;
