// AwsEcrLogins against a loopback fake of ECR and STS, through the AWS SDK itself: the
// SDK finds the fake by its standard endpoint settings, as it would find a VPC endpoint.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsEcrLogins, classify, EcrUnavailableError } from './ecr.ts';
import { type FakeAws, startFakeAws } from './fake-aws.test-support.ts';
import { EcrLoginError, type EcrLoginNeed } from './registry-auth.ts';

const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const KEYS = {
  aws_access_key_id: 'AKIAJOBKEY0000000001',
  aws_secret_access_key: 'job-secret-key-do-not-leak',
};
const RUNNER_KEY = 'AKIARUNNERKEY0000001';
const ROLE = 'arn:aws:iam::123456789012:role/ecr-pull';
const need = (auth: EcrLoginNeed['auth']): EcrLoginNeed => ({
  index: 0,
  registry: REGISTRY,
  region: 'eu-west-1',
  auth,
});

let aws: FakeAws;
const saved = { ...process.env };
beforeAll(async () => {
  aws = await startFakeAws();
});
afterAll(() => aws.close());
beforeEach(() => {
  aws.calls.length = 0;
  aws.mode.ecr = 'ok';
  aws.mode.sts = 'ok';
  process.env.AWS_ENDPOINT_URL_ECR = aws.url;
  process.env.AWS_ENDPOINT_URL_STS = aws.url;
  // Nothing on this machine may stand in for the runner's own credentials.
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_CONFIG_FILE = '/nonexistent';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  delete process.env.AWS_PROFILE;
});
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

describe('AwsEcrLogins', () => {
  it("gets a login with the job's access keys, in the registry's region", async () => {
    const login = await new AwsEcrLogins().login(need(KEYS), 'lsta-1');
    expect(login).toEqual({ username: 'AWS', password: aws.passwordFor(KEYS.aws_access_key_id) });
    expect(aws.calls).toEqual([{ service: 'ecr', accessKeyId: KEYS.aws_access_key_id, region: 'eu-west-1' }]);
  });

  it("assumes oidc_role_arn with the runner's own credentials, then asks ECR as that role", async () => {
    process.env.AWS_ACCESS_KEY_ID = RUNNER_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'runner-secret-key';
    const login = await new AwsEcrLogins().login(need({ oidc_role_arn: ROLE }), 'lsta-abc-2');
    const [assume, ecr] = aws.calls;
    expect(assume).toEqual({
      service: 'sts',
      accessKeyId: RUNNER_KEY,
      region: 'eu-west-1',
      roleArn: ROLE,
      sessionName: 'lsta-abc-2',
    });
    expect(ecr?.service).toBe('ecr');
    expect(ecr?.accessKeyId).toMatch(/^ASIA/);
    expect(login.password).toBe(aws.passwordFor(ecr?.accessKeyId ?? ''));
  });

  it('fails the task when ECR refuses the keys, without quoting them', async () => {
    aws.mode.ecr = 'refuse';
    const err = await new AwsEcrLogins().login(need(KEYS), 's').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EcrLoginError);
    expect((err as Error).message).toBe(
      `ECR GetAuthorizationToken for ${REGISTRY} failed: UnrecognizedClientException: The security token included in the request is invalid.`,
    );
  });

  it('fails the task when the runner may not assume the role, or has no AWS credentials at all', async () => {
    process.env.AWS_ACCESS_KEY_ID = RUNNER_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'runner-secret-key';
    aws.mode.sts = 'refuse';
    const denied = await new AwsEcrLogins()
      .login(need({ oidc_role_arn: ROLE }), 's')
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(EcrLoginError);
    expect((denied as Error).message).toContain(
      `STS AssumeRole of ${ROLE} with the runner's own AWS credentials failed: AccessDenied`,
    );

    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    const none = await new AwsEcrLogins().login(need({ oidc_role_arn: ROLE }), 's').catch((e: unknown) => e);
    expect(none).toBeInstanceOf(EcrLoginError);
    expect((none as Error).message).toContain('the runner has no AWS credentials of its own');
  });

  it('leaves a 500 to another try of the claim', async () => {
    aws.mode.ecr = 'fail';
    const err = await new AwsEcrLogins().login(need(KEYS), 's').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EcrUnavailableError);
    expect(err).not.toBeInstanceOf(EcrLoginError);
  });
});

describe('classify', () => {
  const sdkError = (name: string, status: number | undefined, message = 'm') =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

  it('tells what another try cannot change from what it may', () => {
    expect(classify(sdkError('AccessDeniedException', 400), 'x', [])).toBeInstanceOf(EcrLoginError);
    expect(classify(sdkError('ThrottlingException', 400), 'x', [])).toBeInstanceOf(EcrUnavailableError);
    expect(classify(sdkError('TooManyRequests', 429), 'x', [])).toBeInstanceOf(EcrUnavailableError);
    expect(classify(sdkError('ServerException', 503), 'x', [])).toBeInstanceOf(EcrUnavailableError);
    expect(classify(sdkError('TimeoutError', undefined), 'x', [])).toBeInstanceOf(EcrUnavailableError);
    expect(classify(sdkError('CredentialsProviderError', undefined), 'x', [])).toBeInstanceOf(EcrLoginError);
  });

  it('removes the task’s secrets from the message and clips it', () => {
    const err = classify(
      sdkError('SignatureDoesNotMatch', 403, `Credential=${KEYS.aws_access_key_id}/x ${'y'.repeat(500)}`),
      'ECR',
      [KEYS.aws_access_key_id],
    );
    expect(err.message).not.toContain(KEYS.aws_access_key_id);
    expect(err.message).toContain('Credential=[redacted]/x');
    expect(err.message.length).toBeLessThan(320);
    expect(err.cause).toBeUndefined();
  });
});
