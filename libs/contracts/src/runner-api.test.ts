import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  Allocation,
  ClaimResponse,
  commandSize,
  ecrRegistry,
  environmentSize,
  MAX_ALLOCATION_LENGTH,
  MAX_COMMAND_BYTES,
  MAX_COMMAND_ITEMS,
  MAX_CONTAINERS,
  MAX_ENVIRONMENT_BYTES,
  MAX_ENVIRONMENT_VARIABLES,
  MAX_REGISTRY_PASSWORD_LENGTH,
  MAX_TASK_ID_LENGTH,
  MAX_TASK_TOKEN_LENGTH,
  TaskConfig,
  TaskId,
  TaskToken,
  UnclaimRequest,
} from './runner-api.ts';

const UUID = '5f0c7a52-8d3b-4b7e-9a57-0d6c1f2e3a4b';
const ECR_IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1';
const AWS_KEYS = {
  aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE',
  aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG',
};
const ROLE_ARN = 'arn:aws:iam::123456789012:role/ecr-pull';

const claim = (over: Record<string, unknown> = {}) => ({
  task_token: 'tok-abc.DEF_123',
  agent_version: '1.0.219-a4a9f2c',
  resource_class: 'acme/small',
  allocation: 'testallocation',
  ...over,
});

const config = (over: Record<string, unknown> = {}) => ({
  task_id: UUID,
  resource_class: 'acme/small',
  containers: [{ image: 'cimg/base:current' }],
  ...over,
});

/** `path: message` per issue, as the client's RunnerApiMalformedResponseError lists them. */
function issuesOf(schema: z.ZodType, value: unknown): string[] {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error('expected the value to be refused');
  return parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
}

describe('ClaimResponse', () => {
  it('accepts what CircleCI and the simulator answer', () => {
    expect(ClaimResponse.parse(claim())).toEqual(claim());
    expect(ClaimResponse.parse(claim({ allocation: 'a1b2:c3+d4/e5==', agent_version: '' })).allocation).toBe(
      'a1b2:c3+d4/e5==',
    );
  });

  it.each([
    ['task_token', 'tok en', 'task_token: must be visible ASCII'],
    ['task_token', 'tok\nen', 'task_token: must be visible ASCII'],
    ['task_token', 'tökén', 'task_token: must be visible ASCII'],
    ['task_token', '', 'task_token: must not be empty'],
    [
      'task_token',
      't'.repeat(MAX_TASK_TOKEN_LENGTH + 1),
      `task_token: must be at most ${MAX_TASK_TOKEN_LENGTH}`,
    ],
    ['allocation', 'a\nb', 'allocation: must be letters, digits'],
    ['allocation', '-leading-dash', 'allocation: must be letters, digits'],
    [
      'allocation',
      'a'.repeat(MAX_ALLOCATION_LENGTH + 1),
      `allocation: must be at most ${MAX_ALLOCATION_LENGTH}`,
    ],
    ['resource_class', 'no-slash', 'resource_class: resource class must look like'],
    ['agent_version', 'v\r\n1', 'agent_version: must be visible ASCII'],
  ])('refuses %s %j without quoting it', (field, value, issue) => {
    const issues = issuesOf(ClaimResponse, claim({ [field]: value }));
    expect(issues).toEqual([expect.stringContaining(issue)]);
    if (value !== '') expect(issues.join()).not.toContain(value);
  });

  it('names the fields a wrong-shaped answer lacks', () => {
    expect(issuesOf(ClaimResponse, { unexpected: true })).toEqual([
      expect.stringMatching(/^task_token: /),
      expect.stringMatching(/^agent_version: /),
      expect.stringMatching(/^resource_class: /),
      expect.stringMatching(/^allocation: /),
    ]);
  });
});

describe('ids', () => {
  it('TaskId takes UUIDs and other plain ids up to the limit', () => {
    for (const id of [UUID, 'task-1', 'a', 'ns:task.7_b', 'A'.repeat(MAX_TASK_ID_LENGTH)]) {
      expect(TaskId.safeParse(id).success).toBe(true);
    }
  });

  it.each([
    '',
    'a\nb',
    'a\rb',
    'a b',
    'a*b',
    'a>b',
    'a/b',
    '.hidden',
    '-x',
    'é',
    'A'.repeat(MAX_TASK_ID_LENGTH + 1),
  ])('TaskId refuses %j', (id) => {
    expect(TaskId.safeParse(id).success).toBe(false);
  });

  it('Allocation and TaskToken are the claim fields', () => {
    expect(Allocation.safeParse('testallocation').success).toBe(true);
    expect(TaskToken.safeParse('Bearer-safe~token!').success).toBe(true);
  });

  it('UnclaimRequest takes back any id the API served, but only a header-safe token', () => {
    expect(UnclaimRequest.safeParse({ task_id: 'odd id\n', task_token: 'tok' }).success).toBe(true);
    expect(UnclaimRequest.safeParse({ task_id: UUID, task_token: 'to k' }).success).toBe(false);
  });
});

describe('TaskConfig: valid configs stay valid', () => {
  it('fills in defaults for a minimal config', () => {
    expect(TaskConfig.parse(config())).toEqual({
      task_id: UUID,
      resource_class: 'acme/small',
      job_name: 'build',
      working_directory: '~/project',
      containers: [{ image: 'cimg/base:current', environment: {} }],
      ssh_advertise_addr: '',
    });
  });

  it('keeps a full config with service containers as it is', () => {
    const full = {
      task_id: UUID,
      resource_class: 'my-org/big',
      job_name: 'test (node 22)',
      working_directory: '/home/circleci/project',
      containers: [
        {
          image: 'cimg/node:22.1',
          entrypoint: ['/bin/sh', '-c'],
          command: ['run'],
          user: 'circleci',
          auth: { username: 'bot', password: 'p:a"s\ns{' },
          environment: { SECRET_THING: 'multi\nline\tvalue', 'dotted.name': 'x', _U: '' },
        },
        {
          image: 'cimg/postgres:16.1',
          name: 'db',
          entrypoint: ['docker-entrypoint.sh'],
          command: ['postgres', '-c', 'fsync=off'],
          environment: { POSTGRES_PASSWORD: 'pa$(s)s' },
        },
        { image: 'redis:7', name: 'Not_A_DNS_Name' },
        { image: `ghcr.io/acme/tool@sha256:${'f'.repeat(64)}`, user: '1000:1000' },
        {
          image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1',
          aws_auth: {
            aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE',
            aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG',
          },
        },
        {
          image: '123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app',
          aws_auth: { oidc_role_arn: 'arn:aws-cn:iam::123456789012:role/ci/ecr-pull' },
        },
      ],
      ssh_advertise_addr: '10.0.0.5:54782',
    };
    const parsed = TaskConfig.parse(full);
    expect(parsed.containers[2]).toEqual({ image: 'redis:7', name: 'Not_A_DNS_Name', environment: {} });
    expect(parsed).toMatchObject(full);
  });

  it('accepts a task exactly at every limit', () => {
    const containers = Array.from({ length: MAX_CONTAINERS }, () => ({ image: 'redis:7' }));
    expect(TaskConfig.safeParse(config({ containers })).success).toBe(true);

    // MAX_ENVIRONMENT_VARIABLES variables whose names and values fill MAX_ENVIRONMENT_BYTES.
    const per = MAX_ENVIRONMENT_BYTES / MAX_ENVIRONMENT_VARIABLES;
    const environment = Object.fromEntries(
      Array.from({ length: MAX_ENVIRONMENT_VARIABLES }, (_, i) => {
        const name = `V${String(i).padStart(5, '0')}`;
        return [name, 'x'.repeat(per - name.length)];
      }),
    );
    const atEnvLimit = config({ containers: [{ image: 'redis:7', environment }] });
    expect(environmentSize(TaskConfig.parse(atEnvLimit).containers)).toEqual({
      bytes: MAX_ENVIRONMENT_BYTES,
      count: MAX_ENVIRONMENT_VARIABLES,
    });

    const atCommandLimit = config({
      containers: [{ image: 'redis:7', entrypoint: ['x'.repeat(MAX_COMMAND_BYTES - 1)], command: ['y'] }],
    });
    expect(commandSize(TaskConfig.parse(atCommandLimit))).toBe(MAX_COMMAND_BYTES);
  });
});

describe('TaskConfig: hostile configs fail with one clear issue each, never quoting values', () => {
  it.each([
    ['a task id with a newline', { task_id: 'a\nb' }, 'task_id: must be letters, digits'],
    ['an empty task id', { task_id: '' }, 'task_id: must be letters, digits'],
    ['a task id that is not a string', { task_id: 42 }, 'task_id: Invalid input: expected string'],
    ['a long task id', { task_id: 'a'.repeat(1000) }, `task_id: must be at most ${MAX_TASK_ID_LENGTH}`],
    [
      'another kind of resource class',
      { resource_class: 'nope' },
      'resource_class: resource class must look like',
    ],
    ['containers that are not a list', { containers: 'nope' }, 'containers: Invalid input: expected array'],
    ['no containers', { containers: [] }, 'containers: a task needs at least its primary container'],
    [
      '500 containers',
      { containers: Array.from({ length: 500 }, () => ({ image: 'NOT AN IMAGE' })) },
      `containers: a task has at most ${MAX_CONTAINERS} containers`,
    ],
    [
      'an image that is not an image reference',
      { containers: [{ image: 'NOT AN IMAGE' }] },
      'containers.0.image: not an image reference: contains whitespace',
    ],
    [
      'an image with capitals in its path',
      { containers: [{ image: 'cimg/base:current' }, { image: 'Postgres:16' }] },
      'containers.1.image: not an image reference: has a repository path that is not lowercase',
    ],
    [
      'an empty image',
      { containers: [{ image: '' }] },
      'containers.0.image: not an image reference: is empty',
    ],
    [
      'a container name with a newline',
      { containers: [{ image: 'redis:7', name: 'db\nx' }] },
      'containers.0.name: must be letters, digits',
    ],
    [
      'environment names Kubernetes refuses',
      { containers: [{ image: 'redis:7', environment: { 'BAD NAME': 'x', '1X': 'y', OK: 'z' } }] },
      'containers.0.environment: 2 variable name(s) not valid for Kubernetes',
    ],
    [
      'environment values that are not strings',
      { containers: [{ image: 'redis:7', environment: { A: 1, B: null, C: 'c' } }] },
      'containers.0.environment: 2 value(s) not strings',
    ],
    [
      'an environment that is a list',
      { containers: [{ image: 'redis:7', environment: ['A=1'] }] },
      'containers.0.environment: must be an object of strings, not array',
    ],
    [
      'a 1 MB environment',
      { containers: [{ image: 'redis:7', environment: { BIG: 'x'.repeat(1_000_000) } }] },
      `containers: environment of all containers is 1000003 bytes, over the limit of ${MAX_ENVIRONMENT_BYTES}`,
    ],
    [
      'too many variables over all containers',
      {
        containers: [0, 1].map((c) => ({
          image: 'redis:7',
          environment: Object.fromEntries(
            Array.from({ length: MAX_ENVIRONMENT_VARIABLES / 2 + 1 }, (_, i) => [`C${c}_${i}`, '']),
          ),
        })),
      },
      `containers: environment of all containers has ${MAX_ENVIRONMENT_VARIABLES + 2} variables, over the limit`,
    ],
    [
      'a command that is not a list',
      { containers: [{ image: 'redis:7', command: 'echo hi' }] },
      'containers.0.command: must be an array of strings, not string',
    ],
    [
      'a command of too many items',
      {
        containers: [{ image: 'redis:7', command: Array.from({ length: MAX_COMMAND_ITEMS + 1 }, () => 'x') }],
      },
      `containers.0.command: must have at most ${MAX_COMMAND_ITEMS} items, not ${MAX_COMMAND_ITEMS + 1}`,
    ],
    [
      'a command of numbers',
      { containers: [{ image: 'redis:7', command: ['a', 1, 2, {}] }] },
      'containers.0.command: 3 item(s) not strings',
    ],
    [
      'an entrypoint that is not a list',
      { containers: [{ image: 'redis:7', entrypoint: 5 }] },
      'containers.0.entrypoint: must be an array of strings, not number',
    ],
    [
      'commands over the size limit together',
      {
        containers: [
          { image: 'redis:7', entrypoint: ['x'.repeat(MAX_COMMAND_BYTES / 2)] },
          { image: 'redis:7', command: ['y'.repeat(MAX_COMMAND_BYTES / 2)], entrypoint: ['z'] },
        ],
      },
      `(body): entrypoints and commands are ${MAX_COMMAND_BYTES + 1} bytes together, over the limit of ${MAX_COMMAND_BYTES}`,
    ],
    [
      'a user with a newline',
      { containers: [{ image: 'redis:7', user: 'root\nx' }] },
      'containers.0.user: must not contain control characters',
    ],
    ['a long job name', { job_name: 'j'.repeat(5000) }, 'job_name: must be at most 1024 characters'],
    [
      'a working directory with a NUL',
      { working_directory: '/a\u0000b' },
      'working_directory: must not contain control',
    ],
    [
      'an ssh address with a newline',
      { ssh_advertise_addr: '1.2.3.4:22\n' },
      'ssh_advertise_addr: must not contain control',
    ],
  ])('%s', (_what, over, issue) => {
    const issues = issuesOf(TaskConfig, config(over));
    expect(issues).toEqual([expect.stringContaining(issue)]);
  });

  it('says nothing of a value, not even a hostile environment name', () => {
    const secret = 'hunter2-secret-value';
    const issues = issuesOf(
      TaskConfig,
      config({
        task_id: `id ${secret}`,
        containers: [
          {
            image: `img ${secret}`,
            name: `n ${secret}`,
            user: `${secret}\n`,
            environment: { [`${secret} X`]: 1 },
          },
        ],
      }),
    ).join('\n');
    expect(issues).toContain('task_id');
    expect(issues).toContain('containers.0.environment');
    expect(issues).not.toContain(secret);
  });

  it.each([
    [
      'an auth without a password',
      { containers: [{ image: 'ghcr.io/a/b', auth: { username: 'u' } }] },
      'containers.0.auth.password: Invalid input: expected string',
    ],
    [
      'an auth with an empty password',
      { containers: [{ image: 'ghcr.io/a/b', auth: { username: 'u', password: '' } }] },
      'containers.0.auth.password: must not be empty',
    ],
    [
      'an auth whose username has a colon',
      { containers: [{ image: 'ghcr.io/a/b', auth: { username: 'u:x', password: 'p' } }] },
      'containers.0.auth.username: must not contain a colon or control characters',
    ],
    [
      'a huge password',
      {
        containers: [
          {
            image: 'ghcr.io/a/b',
            auth: { username: 'u', password: 'p'.repeat(MAX_REGISTRY_PASSWORD_LENGTH + 1) },
          },
        ],
      },
      `containers.0.auth.password: must be at most ${MAX_REGISTRY_PASSWORD_LENGTH} characters`,
    ],
    [
      'an auth that is a string',
      { containers: [{ image: 'ghcr.io/a/b', auth: 'u:p' }] },
      'containers.0.auth: Invalid input: expected object',
    ],
    [
      'an aws_auth with half the keys',
      { containers: [{ image: ECR_IMAGE, aws_auth: { aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE' } }] },
      'containers.0.aws_auth: needs aws_access_key_id and aws_secret_access_key, or oidc_role_arn alone',
    ],
    [
      'an aws_auth with keys and a role',
      { containers: [{ image: ECR_IMAGE, aws_auth: { ...AWS_KEYS, oidc_role_arn: ROLE_ARN } }] },
      'containers.0.aws_auth: needs aws_access_key_id and aws_secret_access_key, or oidc_role_arn alone',
    ],
    [
      'an empty aws_auth',
      { containers: [{ image: ECR_IMAGE, aws_auth: {} }] },
      'containers.0.aws_auth: needs aws_access_key_id',
    ],
    [
      'an access key id of the wrong form',
      { containers: [{ image: ECR_IMAGE, aws_auth: { ...AWS_KEYS, aws_access_key_id: 'akia lower' } }] },
      'containers.0.aws_auth.aws_access_key_id: must be 16 to 128 capital letters and digits',
    ],
    [
      'a role that is not a role ARN',
      { containers: [{ image: ECR_IMAGE, aws_auth: { oidc_role_arn: 'arn:aws:iam::123:user/x' } }] },
      'containers.0.aws_auth.oidc_role_arn: must be an IAM role ARN',
    ],
    [
      'aws_auth on an image outside ECR',
      { containers: [{ image: 'ghcr.io/acme/app', aws_auth: AWS_KEYS }] },
      'containers.0.aws_auth: is for ECR images, and the image is not in an ECR registry',
    ],
    [
      'auth and aws_auth on one container',
      { containers: [{ image: ECR_IMAGE, aws_auth: AWS_KEYS, auth: { username: 'u', password: 'p' } }] },
      'containers.0.aws_auth: a container has auth or aws_auth, not both',
    ],
  ])('%s', (_what, over, issue) => {
    expect(issuesOf(TaskConfig, config(over))).toEqual([expect.stringContaining(issue)]);
  });

  it('never quotes a password, a key or a role', () => {
    const password = 'hunter2-registry-password';
    const issues = issuesOf(
      TaskConfig,
      config({
        containers: [
          { image: 'ghcr.io/a/b', auth: { username: `u:${password}`, password: password.repeat(1000) } },
          {
            image: 'ghcr.io/a/b',
            aws_auth: { aws_access_key_id: `x${password}`, aws_secret_access_key: `${password} ` },
          },
          { image: ECR_IMAGE, aws_auth: { oidc_role_arn: `arn:${password}` } },
        ],
      }),
    ).join('\n');
    expect(issues).toContain('containers.0.auth.username');
    expect(issues).toContain('containers.1.aws_auth');
    expect(issues).toContain('containers.2.aws_auth.oidc_role_arn');
    expect(issues).not.toContain(password);
  });

  it('stays one short issue for a config of 500 broken containers', () => {
    const containers = Array.from({ length: 500 }, () => ({ image: 42, environment: 'x', cmd: {} }));
    const issues = issuesOf(TaskConfig, config({ containers }));
    expect(issues).toHaveLength(1);
    expect(issues[0]!.length).toBeLessThan(200);
  });
});

describe('ecrRegistry', () => {
  it('reads the account and region of an ECR host, and nothing else as one', () => {
    expect(ecrRegistry('123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toEqual({
      accountId: '123456789012',
      region: 'eu-west-1',
    });
    expect(ecrRegistry('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com')?.region).toBe(
      'us-gov-west-1',
    );
    expect(ecrRegistry('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn')?.region).toBe('cn-north-1');
    expect(ecrRegistry('123456789012.dkr-ecr.ap-south-1.on.aws')?.region).toBe('ap-south-1');
    for (const host of [
      undefined,
      'public.ecr.aws',
      'ghcr.io',
      '12345.dkr.ecr.eu-west-1.amazonaws.com',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example',
      'x123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    ])
      expect(ecrRegistry(host), host).toBeUndefined();
  });
});
