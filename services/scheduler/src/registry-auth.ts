// Registry logins of a task: each job container's `auth`, or the ECR login its `aws_auth`
// gets, written into the task Secret as a docker config that the pod names in its
// imagePullSecrets. The decisions are pure functions here; the ECR call is ecr.ts's.
import {
  type EcrAuth,
  ecrRegistry,
  parseImageReference,
  resolveImageReference,
  type TaskConfig,
} from '@longshore/contracts';
import { TaskPodError } from './merge.ts';

/** A docker login: what `docker login` takes, and what a docker config's `auths` hold. */
export interface RegistryLogin {
  username: string;
  password: string;
}

/** A container whose image needs an ECR login, and what to get it with. */
export interface EcrLoginNeed {
  /** Index of the container in the task config (0 is the primary). */
  index: number;
  /** The registry host, `<account>.dkr.ecr.<region>.amazonaws.com`. */
  registry: string;
  region: string;
  auth: EcrAuth;
}

/** The containers that need an ECR login fetched before their pod can be built. */
export function ecrLoginsNeeded(task: Pick<TaskConfig, 'containers'>): EcrLoginNeed[] {
  return task.containers.flatMap((c, index) => {
    if (c.aws_auth === undefined) return [];
    const parsed = parseImageReference(c.image);
    const ecr = parsed.ok ? ecrRegistry(parsed.ref.domain) : undefined;
    // The task config schema allows aws_auth on ECR images only; an input that bypassed
    // it cannot be given a login for its image.
    if (!parsed.ok || ecr === undefined || parsed.ref.domain === undefined) {
      throw new TaskPodError([], `container ${index} has aws_auth, but its image is not in an ECR registry`);
    }
    return [{ index, registry: parsed.ref.domain, region: ecr.region, auth: c.aws_auth }];
  });
}

/**
 * The key of an image's login in a docker config: its registry and repository
 * (`docker.io/library/postgres`, `ghcr.io/acme/app`). The kubelet matches a key against
 * the image's normalized name by host and path prefix, so a login keyed so is offered to
 * that repository only: two containers may pull from one registry with different logins,
 * and no login is offered to an image it was not given for.
 */
export function loginKey(image: string): string {
  const parsed = parseImageReference(image);
  if (!parsed.ok)
    throw new TaskPodError([], `an image with a login is not an image reference: ${parsed.reason}`);
  const { registry, repository } = resolveImageReference(parsed.ref);
  return `${registry}/${repository}`;
}

/**
 * The `.dockerconfigjson` document for these logins, or undefined when there are none.
 * One repository given two different logins cannot be written into one config: that
 * task cannot be run as asked, so it is refused (TaskPodError) rather than guessed at.
 */
export function dockerConfigJson(
  logins: readonly { image: string; login: RegistryLogin }[],
): string | undefined {
  if (logins.length === 0) return undefined;
  const auths: Record<string, { username: string; password: string; auth: string }> = {};
  for (const { image, login } of logins) {
    const key = loginKey(image);
    const prev = auths[key];
    if (prev !== undefined) {
      if (prev.username === login.username && prev.password === login.password) continue;
      throw new TaskPodError([], `two containers pull ${key} with different logins; a pod can use one`);
    }
    auths[key] = {
      username: login.username,
      password: login.password,
      auth: Buffer.from(`${login.username}:${login.password}`).toString('base64'),
    };
  }
  return JSON.stringify({ auths });
}

/** Longest authorization token taken from ECR (they are about 2 KB). */
export const MAX_ECR_TOKEN_LENGTH = 64 * 1024;

/**
 * The docker login inside an ECR authorization token: base64 of `AWS:<password>`. The
 * answer is from outside, so its shape is checked; the error never quotes it.
 */
export function loginFromEcrToken(token: unknown): RegistryLogin {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_ECR_TOKEN_LENGTH) {
    throw new EcrTokenError('ECR answered without an authorization token of a usable size');
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token))
    throw new EcrTokenError('the ECR authorization token is not base64');
  const text = Buffer.from(token, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    throw new EcrTokenError('the ECR authorization token is not a <user>:<password> pair');
  }
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** ECR's answer could not be used (a malformed token). */
export class EcrTokenError extends Error {
  override readonly name = 'EcrTokenError';
}

/**
 * Where ECR logins come from (ecr.ts: the AWS SDK). `login` answers a login good for the
 * registry, or throws: an EcrLoginError when the credentials were refused or the runner
 * has none (the task cannot run), anything else when another try may work.
 */
export interface EcrLogins {
  login(need: EcrLoginNeed, sessionName: string): Promise<RegistryLogin>;
}

/** ECR or STS refused, or the runner has no AWS credentials of its own: trying again will not help. */
export class EcrLoginError extends Error {
  override readonly name = 'EcrLoginError';
}

/** Logins of every container with aws_auth, by container index; one request per container. */
export async function fetchEcrLogins(
  needs: readonly EcrLoginNeed[],
  ecr: EcrLogins,
  sessionName: string,
): Promise<Record<number, RegistryLogin>> {
  const logins = await Promise.all(needs.map((n) => ecr.login(n, sessionName)));
  return Object.fromEntries(needs.map((n, i) => [n.index, logins[i]!]));
}

/** The secret values of a task's registry logins and AWS keys, for the log scrubber. */
export function registrySecrets(
  task: Pick<TaskConfig, 'containers'>,
  fetched: Readonly<Record<number, RegistryLogin>> = {},
): string[] {
  const out = new Set<string>();
  for (const c of task.containers) {
    if (c.auth !== undefined) out.add(c.auth.password);
    if (c.aws_auth?.aws_secret_access_key !== undefined) out.add(c.aws_auth.aws_secret_access_key);
    if (c.aws_auth?.aws_access_key_id !== undefined) out.add(c.aws_auth.aws_access_key_id);
  }
  for (const login of Object.values(fetched)) out.add(login.password);
  return [...out];
}
