// ECR logins for containers with `aws_auth`, through the AWS SDK: GetAuthorizationToken
// with the job's access keys, or with a role assumed by the runner's own AWS credentials
// (for `oidc_role_arn`: see libs/contracts/README.md for why not the job's OIDC token).
// The SDK is loaded on the first such job only: every service's resident memory is a
// benchmarked figure, and most runners never see an ECR job.
//
// Endpoints are the SDK's own business: it honours the standard AWS_ENDPOINT_URL_ECR and
// AWS_ENDPOINT_URL_STS settings (which is how our tests point it at a loopback fake).
import type { EcrLoginNeed, EcrLogins, RegistryLogin } from './registry-auth.ts';
import { EcrLoginError, loginFromEcrToken } from './registry-auth.ts';

/** Per request, the body included; the SDK tries each call at most this many times. */
const REQUEST_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const MAX_ATTEMPTS = 2;
/** The shortest session STS grants: long enough for the one call it is assumed for. */
const ROLE_SESSION_SECONDS = 900;
const MAX_ERROR_CHARS = 300;

interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The AWS SDK's error shape, as far as deciding whether to try again needs it. */
interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

export class AwsEcrLogins implements EcrLogins {
  async login(need: EcrLoginNeed, sessionName: string): Promise<RegistryLogin> {
    const { auth, region, registry } = need;
    const secrets = [auth.aws_access_key_id, auth.aws_secret_access_key];
    let credentials: AwsCredentials;
    if (auth.oidc_role_arn !== undefined) {
      credentials = await this.#assumeRole(auth.oidc_role_arn, region, sessionName);
      secrets.push(credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken);
    } else if (auth.aws_access_key_id !== undefined && auth.aws_secret_access_key !== undefined) {
      credentials = { accessKeyId: auth.aws_access_key_id, secretAccessKey: auth.aws_secret_access_key };
    } else {
      throw new EcrLoginError(`aws_auth for ${registry} has neither access keys nor a role`);
    }
    const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
    const ecr = new ECRClient({ region, credentials, ...clientOptions() });
    try {
      const out = await ecr.send(new GetAuthorizationTokenCommand({}));
      return loginFromEcrToken(out.authorizationData?.[0]?.authorizationToken);
    } catch (err) {
      throw classify(err, `ECR GetAuthorizationToken for ${registry}`, secrets);
    } finally {
      ecr.destroy();
    }
  }

  async #assumeRole(roleArn: string, region: string, sessionName: string): Promise<AwsCredentials> {
    const { STSClient, AssumeRoleCommand } = await import('@aws-sdk/client-sts');
    // No credentials given: the SDK's default chain, i.e. the runner's own (environment,
    // IRSA's web identity, the instance's role), as the seeds have the runner's service
    // account's IAM role pull ECR images.
    const sts = new STSClient({ region, ...clientOptions() });
    try {
      const out = await sts.send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: ROLE_SESSION_SECONDS,
        }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) {
        throw new EcrLoginError(`STS AssumeRole of ${roleArn} answered without credentials`);
      }
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      };
    } catch (err) {
      if (err instanceof EcrLoginError) throw err;
      throw classify(err, `STS AssumeRole of ${roleArn} with the runner's own AWS credentials`, []);
    } finally {
      sts.destroy();
    }
  }
}

function clientOptions() {
  return {
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECT_TIMEOUT_MS },
  };
}

/**
 * ECR or STS could not be reached or answered 5xx or throttled: another try may work.
 * Like EcrLoginError, it keeps the SDK's error name and message, scrubbed, and not the
 * SDK's error itself as a cause: that one can quote the request it failed on, and whoever
 * logs this error no longer has the task's secrets registered with the scrubber.
 */
export class EcrUnavailableError extends Error {
  override readonly name = 'EcrUnavailableError';
}

/**
 * An EcrLoginError (the task cannot run) for what another try will not change: refused
 * credentials, a role the runner may not assume, no AWS credentials on the runner at all,
 * an answer that is not a login. Anything else (no answer, 5xx, throttling) is an
 * EcrUnavailableError, so the claim is tried again. The message goes into the task's fail
 * event and onto the bus: it is clipped, and any of the task's secrets in it are removed.
 */
export function classify(err: unknown, what: string, secrets: readonly (string | undefined)[]): Error {
  const e = (err ?? {}) as AwsError;
  const status = e.$metadata?.httpStatusCode;
  const throttled =
    e.$retryable?.throttling === true || /Throttl|TooManyRequests|RequestLimitExceeded/i.test(e.name ?? '');
  const noCredentials = e.name === 'CredentialsProviderError';
  const refused = status !== undefined && status >= 400 && status < 500 && status !== 429 && !throttled;
  const malformed = err instanceof Error && err.name === 'EcrTokenError';
  const message = scrub(`${e.name ?? 'Error'}: ${e.message ?? String(err)}`, secrets);
  if (noCredentials)
    return new EcrLoginError(`${what}: the runner has no AWS credentials of its own (${message})`);
  if (refused || malformed) return new EcrLoginError(`${what} failed: ${message}`);
  return new EcrUnavailableError(`${what} failed: ${message}`);
}

function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s !== undefined && s.length >= 4) out = out.replaceAll(s, '[redacted]');
  return out.length <= MAX_ERROR_CHARS ? out : `${out.slice(0, MAX_ERROR_CHARS)}…`;
}
