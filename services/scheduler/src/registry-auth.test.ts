import { TaskConfig } from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { TaskPodError } from './merge.ts';
import {
  dockerConfigJson,
  type EcrLoginNeed,
  type EcrLogins,
  EcrTokenError,
  ecrLoginsNeeded,
  fetchEcrLogins,
  loginFromEcrToken,
  loginKey,
  registrySecrets,
} from './registry-auth.ts';

const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const KEYS = {
  aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE',
  aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY',
};
const ROLE = { oidc_role_arn: 'arn:aws:iam::123456789012:role/ecr-pull' };

const task = (containers: unknown[]) =>
  TaskConfig.parse({ task_id: 't1', resource_class: 'a/b', containers });

describe('loginKey', () => {
  it('is the registry and repository the kubelet matches a pull against', () => {
    expect(loginKey('postgres:16')).toBe('docker.io/library/postgres');
    expect(loginKey('cimg/base:2024.01')).toBe('docker.io/cimg/base');
    expect(loginKey('index.docker.io/acme/app')).toBe('docker.io/acme/app');
    expect(loginKey(`ghcr.io/acme/app@sha256:${'a'.repeat(64)}`)).toBe('ghcr.io/acme/app');
    expect(loginKey('registry.local:5000/team/tool:1')).toBe('registry.local:5000/team/tool');
    expect(() => loginKey('NOT AN IMAGE')).toThrow(TaskPodError);
  });
});

describe('dockerConfigJson', () => {
  it('writes one auth per repository, with the base64 user:password docker expects', () => {
    const json = dockerConfigJson([
      { image: 'ghcr.io/acme/app:1', login: { username: 'bot', password: 'p:w"d\n{' } },
      { image: 'ghcr.io/acme/app:2', login: { username: 'bot', password: 'p:w"d\n{' } },
    ]);
    expect(JSON.parse(json ?? '')).toEqual({
      auths: {
        'ghcr.io/acme/app': {
          username: 'bot',
          password: 'p:w"d\n{',
          auth: Buffer.from('bot:p:w"d\n{').toString('base64'),
        },
      },
    });
    expect(dockerConfigJson([])).toBeUndefined();
  });
});

describe('loginFromEcrToken', () => {
  it('splits the token into the AWS user and the password at the first colon', () => {
    const token = Buffer.from('AWS:eyJwYXlsb2FkIjoi:more').toString('base64');
    expect(loginFromEcrToken(token)).toEqual({ username: 'AWS', password: 'eyJwYXlsb2FkIjoi:more' });
  });

  it.each([
    ['no token', undefined, 'without an authorization token'],
    ['a number', 42, 'without an authorization token'],
    ['an empty token', '', 'without an authorization token'],
    ['a huge token', 'A'.repeat(70_000), 'without an authorization token'],
    ['not base64', 'not base64!', 'is not base64'],
    ['no colon', Buffer.from('AWSsecret').toString('base64'), 'not a <user>:<password> pair'],
    ['no password', Buffer.from('AWS:').toString('base64'), 'not a <user>:<password> pair'],
  ])('refuses %s, without quoting it', (_what, token, message) => {
    let err: unknown;
    try {
      loginFromEcrToken(token);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EcrTokenError);
    expect((err as Error).message).toContain(message);
    if (typeof token === 'string' && token !== '') expect((err as Error).message).not.toContain(token);
  });
});

describe('ecrLoginsNeeded', () => {
  it('lists the containers with aws_auth, with their registry and region', () => {
    const t = task([
      { image: `${ECR}/app:1`, aws_auth: KEYS },
      { image: 'redis:7' },
      { image: '210987654321.dkr.ecr.us-gov-west-1.amazonaws.com/db:1', aws_auth: ROLE },
    ]);
    expect(ecrLoginsNeeded(t)).toEqual([
      { index: 0, registry: ECR, region: 'eu-west-1', auth: KEYS },
      {
        index: 2,
        registry: '210987654321.dkr.ecr.us-gov-west-1.amazonaws.com',
        region: 'us-gov-west-1',
        auth: ROLE,
      },
    ]);
    expect(ecrLoginsNeeded(task([{ image: 'ghcr.io/a/b', auth: { username: 'u', password: 'p' } }]))).toEqual(
      [],
    );
  });

  it('refuses aws_auth on an image outside ECR, had the schema let it through', () => {
    expect(() =>
      ecrLoginsNeeded({ containers: [{ image: 'ghcr.io/a/b', aws_auth: KEYS, environment: {} }] }),
    ).toThrow('container 0 has aws_auth, but its image is not in an ECR registry');
  });
});

describe('fetchEcrLogins', () => {
  it('asks once per container and files each login under its container', async () => {
    const asked: Array<[EcrLoginNeed, string]> = [];
    const ecr: EcrLogins = {
      login: async (need, session) => {
        asked.push([need, session]);
        return { username: 'AWS', password: `pw-${need.index}` };
      },
    };
    const t = task([
      { image: `${ECR}/app:1`, aws_auth: KEYS },
      { image: 'redis:7' },
      { image: `${ECR}/db:1`, aws_auth: ROLE },
    ]);
    expect(await fetchEcrLogins(ecrLoginsNeeded(t), ecr, 'lsta-abc-1')).toEqual({
      0: { username: 'AWS', password: 'pw-0' },
      2: { username: 'AWS', password: 'pw-2' },
    });
    expect(asked.map(([n, s]) => [n.index, s])).toEqual([
      [0, 'lsta-abc-1'],
      [2, 'lsta-abc-1'],
    ]);
  });
});

describe('registrySecrets', () => {
  it('names every password and AWS key of the task, and the fetched logins', () => {
    const t = task([
      { image: `${ECR}/app:1`, aws_auth: KEYS },
      { image: 'ghcr.io/a/b', auth: { username: 'user', password: 'registry-pw' } },
    ]);
    expect(registrySecrets(t, { 0: { username: 'AWS', password: 'ecr-pw' } }).sort()).toEqual(
      [KEYS.aws_access_key_id, KEYS.aws_secret_access_key, 'registry-pw', 'ecr-pw'].sort(),
    );
    expect(registrySecrets(task([{ image: 'redis:7' }]))).toEqual([]);
  });
});
