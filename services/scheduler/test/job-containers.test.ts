// The job's containers as CircleCI's docker executor gives them, through the real claimer
// and scheduler on the test bed: the primary's entrypoint, command and user reach the
// orchestrator, service containers run as their user with their entrypoint and command,
// and private images are pulled with the task Secret as a docker config, whose logins
// (given, or fetched from a loopback fake of ECR and STS) never show in a log line or on
// the bus, and go when the task does.
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import {
  GOAT_CONFIG_SECRET_KEY,
  GoatConfig,
  MANAGED_SELECTOR,
  WARNINGS_ANNOTATION,
} from '@longshore/contracts';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, expect, it } from 'vitest';
import { type FakeAws, startFakeAws } from '../src/fake-aws.test-support.ts';

const RC = 'e2e/jobs';
const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const JOB_KEYS = {
  aws_access_key_id: 'AKIAJOBKEYE2E0000001',
  aws_secret_access_key: 'job-aws-secret-e2e-do-not-leak',
};
const RUNNER_KEYS = {
  AWS_ACCESS_KEY_ID: 'AKIARUNNERE2E0000001',
  AWS_SECRET_ACCESS_KEY: 'runner-aws-secret-e2e',
};
const ROLE = 'arn:aws:iam::123456789012:role/ecr-pull';
const PASSWORDS = { primary: 'primary-registry-pw-e2e', db: 'ghcr-registry-pw-e2e' };

let fleet: Fleet | undefined;
let aws: FakeAws | undefined;
afterEach(async () => {
  await fleet?.stop();
  await aws?.close();
  fleet = undefined;
  aws = undefined;
});

/** Every task pod and Secret of the namespace as first seen: they are deleted when their task ends. */
function watchObjects(f: Fleet) {
  const pods = new Map<string, V1Pod>();
  const secrets = new Map<string, V1Secret>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [p, s] = await Promise.all([
        f.kube.core.listNamespacedPod({ namespace: f.ns.name, labelSelector: MANAGED_SELECTOR }),
        f.kube.core.listNamespacedSecret({ namespace: f.ns.name, labelSelector: MANAGED_SELECTOR }),
      ]);
      for (const x of p.items) if (!pods.has(x.metadata!.name!)) pods.set(x.metadata!.name!, x);
      for (const x of s.items) if (!secrets.has(x.metadata!.name!)) secrets.set(x.metadata!.name!, x);
      await sleep(100);
    }
  })();
  return {
    pods,
    secrets,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

const decoded = (secret: V1Secret | undefined, key: string): unknown =>
  JSON.parse(Buffer.from(secret?.data?.[key] ?? '', 'base64').toString('utf8') || 'null');
const auths = (secret: V1Secret | undefined) =>
  (decoded(secret, '.dockerconfigjson') as { auths: Record<string, { username: string; password: string }> })
    .auths;

it("gives a job's containers their entrypoint, command, user and registry logins, and shows none of the secrets", async () => {
  aws = await startFakeAws();
  fleet = await Fleet.start({ classes: { [RC]: { token: 'tok-jobs-0000001' } } });
  const objects = watchObjects(fleet);
  const tokens = fleet.watchTaskTokens();
  fleet.spawn('scheduler', 'scheduler', {
    AWS_ENDPOINT_URL_ECR: aws.url,
    AWS_ENDPOINT_URL_STS: aws.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...RUNNER_KEYS,
  });
  fleet.spawn('claimer');
  try {
    const containers = await fleet.admin.enqueue({
      resource_class: RC,
      image: 'fate.test/succeed:2s',
      entrypoint: ['/usr/local/bin/start.sh', '--quiet'],
      command: ['--port', '8080'],
      user: 'circleci',
      service_containers: [
        { image: 'cimg/postgres:16.0', name: 'db', user: 'postgres', environment: { POSTGRES_DB: 'ci' } },
        {
          image: 'cimg/redis:7.2',
          name: 'cache',
          user: '999:1000',
          entrypoint: ['docker-entrypoint.sh'],
          command: ['redis-server', '--save', ''],
        },
      ],
    });
    const registry = await fleet.admin.enqueue({
      resource_class: RC,
      image: 'fate.test/succeed:2s',
      auth: { username: 'bot', password: PASSWORDS.primary },
      service_containers: [
        { image: 'ghcr.io/acme/db:1', name: 'db', auth: { username: 'ci', password: PASSWORDS.db } },
      ],
    });
    const ecrKeys = await fleet.admin.enqueue({
      resource_class: RC,
      image: 'fate.test/succeed:2s',
      service_containers: [{ image: `${ECR}/team/tool:1`, name: 'tool', aws_auth: JOB_KEYS }],
    });
    const ecrRole = await fleet.admin.enqueue({
      resource_class: RC,
      image: 'fate.test/succeed:2s',
      service_containers: [{ image: `${ECR}/team/tool:2`, name: 'tool', aws_auth: { oidc_role_arn: ROLE } }],
    });
    const ids = [containers, registry, ecrKeys, ecrRole];
    const tasks = await fleet.waitForTasksEnded(ids);
    expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
    await objects.stop();

    const podOf = (id: string) => {
      const e = fleet!.events$('task.scheduled').find((x) => x.payload.task_id === id);
      const name = String(e?.payload.pod);
      return { pod: objects.pods.get(name), secret: objects.secrets.get(name), event: e?.payload, name };
    };

    // The primary's entrypoint and command are the orchestrator's custom entrypoint, its user the agent's.
    const c = podOf(containers);
    const goat = GoatConfig.parse(decoded(c.secret, GOAT_CONFIG_SECRET_KEY));
    expect(goat.cmd).toEqual(['/usr/local/bin/start.sh', '--quiet', '--port', '8080']);
    expect(goat.user).toBe('circleci');
    expect(c.pod?.spec?.containers[0]?.securityContext).toBeUndefined();
    expect(c.secret?.type).toBe('Opaque');
    // Service containers: entrypoint -> command, command -> args, user -> runAsUser/runAsGroup.
    const service = (name: string) => c.pod?.spec?.containers.find((x) => x.name === name);
    expect(service('cache')).toMatchObject({
      image: 'cimg/redis:7.2',
      command: ['docker-entrypoint.sh'],
      args: ['redis-server', '--save', ''],
      securityContext: { runAsUser: 999, runAsGroup: 1000 },
    });
    expect(service('db')?.securityContext).toBeUndefined();
    expect(service('db')?.env).toContainEqual({ name: 'POSTGRES_DB', value: 'ci' });
    // A user name Kubernetes cannot run as: the image's user, and a warning on the pod and the tap.
    const warning = expect.stringContaining('service container db (cimg/postgres:16.0): user "postgres"');
    expect(c.event?.warnings).toEqual([warning]);
    expect(JSON.parse(c.pod?.metadata?.annotations?.[WARNINGS_ANNOTATION] ?? '[]')).toEqual([warning]);

    // Given logins: the task Secret is the pod's docker config, one login per repository.
    const r = podOf(registry);
    expect(r.secret?.type).toBe('kubernetes.io/dockerconfigjson');
    expect(r.pod?.spec?.imagePullSecrets).toEqual([{ name: r.name }]);
    expect(auths(r.secret)).toMatchObject({
      'fate.test/succeed': { username: 'bot', password: PASSWORDS.primary },
      'ghcr.io/acme/db': { username: 'ci', password: PASSWORDS.db },
    });
    expect(GoatConfig.parse(decoded(r.secret, GOAT_CONFIG_SECRET_KEY)).task_id).toBe(registry);

    // ECR with the job's keys: one GetAuthorizationToken signed with them, in the registry's region.
    const k = podOf(ecrKeys);
    expect(auths(k.secret)[`${ECR}/team/tool`]).toEqual(
      expect.objectContaining({ username: 'AWS', password: aws.passwordFor(JOB_KEYS.aws_access_key_id) }),
    );
    // ECR with a role: assumed with the runner's own keys, the task's objects' name as the session.
    const o = podOf(ecrRole);
    const assumed = aws.calls.find((x) => x.service === 'sts');
    expect(assumed).toMatchObject({
      accessKeyId: RUNNER_KEYS.AWS_ACCESS_KEY_ID,
      region: 'eu-west-1',
      roleArn: ROLE,
      sessionName: o.name,
    });
    const asRole = aws.calls.find((x) => x.service === 'ecr' && x.accessKeyId.startsWith('ASIA'));
    expect(auths(o.secret)[`${ECR}/team/tool`]?.password).toBe(aws.passwordFor(asRole?.accessKeyId ?? ''));

    // Gone with their tasks, pull logins included.
    await fleet.waitFor('task pods and Secrets to be removed', async () => {
      const left = await fleet!.taskObjects();
      return left.pods.length === 0 && left.secrets.length === 0 ? left : undefined;
    });
    await tokens.stop();
    fleet.expectNoSecrets([
      ...tokens.seen,
      ...Object.values(PASSWORDS),
      ...Object.values(JOB_KEYS),
      ...Object.values(RUNNER_KEYS),
      ...aws.issued,
    ]);
  } finally {
    await objects.stop();
    await tokens.stop();
  }
});

it('fails a task whose registry login ECR refuses or whose auth is malformed, saying why, with nothing left', async () => {
  aws = await startFakeAws();
  aws.mode.ecr = 'refuse';
  fleet = await Fleet.start({ classes: { [RC]: { token: 'tok-jobs-0000002' } } });
  fleet.spawn('scheduler', 'scheduler', { AWS_ENDPOINT_URL_ECR: aws.url, AWS_EC2_METADATA_DISABLED: 'true' });
  fleet.spawn('claimer');
  const refused = await fleet.admin.enqueue({
    resource_class: RC,
    image: `${ECR}/team/app:1`,
    aws_auth: JOB_KEYS,
  });
  const malformed = await fleet.admin.enqueue({
    resource_class: RC,
    image: 'ghcr.io/acme/app:1',
    auth: { username: 'bot:x', password: PASSWORDS.primary },
  });
  const [tRefused, tMalformed] = await fleet.waitForTasksEnded([refused, malformed]);
  expect(tRefused!.state).toBe('failed');
  expect(tRefused!.history.at(-1)).toMatchObject({
    message: expect.stringContaining(
      `ECR GetAuthorizationToken for ${ECR} failed: UnrecognizedClientException: The security token included in the request is invalid.`,
    ),
  });
  expect(fleet.events$('task.failed').map((e) => e.payload)).toContainEqual(
    expect.objectContaining({ task_id: refused, reason: 'rejected' }),
  );
  // The claimer refuses a malformed auth before anything is built: the task config's schema.
  expect(tMalformed!.state).toBe('failed');
  expect(tMalformed!.history.at(-1)).toMatchObject({
    message: expect.stringContaining('containers.0.auth.username: must not contain a colon'),
  });
  await fleet.waitFor('task pods and Secrets to be removed', async () => {
    const left = await fleet!.taskObjects();
    return left.pods.length === 0 && left.secrets.length === 0 ? left : undefined;
  });
  fleet.expectNoSecrets([...Object.values(JOB_KEYS), PASSWORDS.primary]);
});
