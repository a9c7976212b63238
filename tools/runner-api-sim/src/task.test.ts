import { TaskConfig } from '@longshore/contracts';
import { expect, describe as group, it } from 'vitest';
import { EnqueueRequest } from './admin-schemas.ts';
import { describe, type TaskRecord, taskConfigOf } from './task.ts';

const PASSWORD = 'sim-registry-password';
const SECRET_KEY = 'sim-aws-secret-access-key';

/** A task record as the state keeps it, from an admin enqueue body. */
function record(body: Record<string, unknown>): TaskRecord {
  const { count: _count, ...spec } = EnqueueRequest.parse({ resource_class: 'acme/small', ...body });
  return {
    id: 't-1',
    spec,
    state: 'queued',
    claims: 0,
    unclaims: 0,
    claim: undefined,
    createdAt: '2026-01-01T00:00:00.000Z',
    history: [],
  };
}

const privateJob = record({
  image: 'ghcr.io/acme/app:1',
  entrypoint: ['/bin/start.sh'],
  command: ['--quiet'],
  user: 'circleci',
  auth: { username: 'bot', password: PASSWORD },
  service_containers: [
    {
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:1',
      name: 'db',
      user: '999:999',
      entrypoint: ['docker-entrypoint.sh'],
      command: ['postgres'],
      aws_auth: { aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_secret_access_key: SECRET_KEY },
    },
    { image: 'redis:7' },
  ],
});

group('taskConfigOf', () => {
  it("serves each container's docker executor keys as enqueued, and nothing it was not given", () => {
    const config = taskConfigOf(privateJob);
    expect(config.containers).toEqual([
      {
        image: 'ghcr.io/acme/app:1',
        entrypoint: ['/bin/start.sh'],
        command: ['--quiet'],
        user: 'circleci',
        auth: { username: 'bot', password: PASSWORD },
        environment: {},
      },
      {
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:1',
        name: 'db',
        user: '999:999',
        entrypoint: ['docker-entrypoint.sh'],
        command: ['postgres'],
        aws_auth: { aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_secret_access_key: SECRET_KEY },
        environment: {},
      },
      { image: 'redis:7', environment: {} },
    ]);
    expect(TaskConfig.parse(config)).toEqual(config);
  });

  it('serves a malformed auth as it is: refusing it is the runner’s job', () => {
    const config = taskConfigOf(record({ image: 'ghcr.io/a/b', auth: { username: 'a:b', password: '' } }));
    expect(config.containers[0]?.auth).toEqual({ username: 'a:b', password: '' });
    expect(TaskConfig.safeParse(config).success).toBe(false);
  });
});

group('describe', () => {
  it('shows the keys and which containers have a login, never the login', () => {
    const view = describe(privateJob);
    expect(view).toMatchObject({
      entrypoint: ['/bin/start.sh'],
      command: ['--quiet'],
      user: 'circleci',
      logins: [
        { container: 0, kind: 'auth' },
        { container: 1, kind: 'aws_auth' },
      ],
    });
    expect(view.service_containers[0]).toEqual({
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/db:1',
      name: 'db',
      user: '999:999',
      entrypoint: ['docker-entrypoint.sh'],
      command: ['postgres'],
    });
    const text = JSON.stringify(view);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(SECRET_KEY);
  });
});
