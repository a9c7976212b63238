// The seeds' example resource class configurations, through our config schema and the pod
// builder, into the real apiserver: each task pod and Secret must be accepted as built,
// keep the user's fields, carry ours, and be placed by the real kube-scheduler where the
// config says (kwok then plays the pod out). A bad user spec must be rejected by the
// apiserver with a message the scheduler can report.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CoreV1Api, V1Pod, V1Secret } from '@kubernetes/client-node';
import { LongshoreConfig, parseConfig } from '@longshore/config';
import {
  Annotations,
  GOAT_CONFIG_ENV,
  GOAT_CONFIG_SECRET_KEY,
  GoatConfig,
  Labels,
  MANAGED_BY,
  PRIMARY_CONTAINER,
  TaskConfig,
} from '@longshore/contracts';
import { isInvalid, kubeErrorMessage, statusCodeOf } from '@longshore/kube';
import { tempNamespace, testKube, waitForPod } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from '../src/platform.ts';
import {
  BIN_VOLUME,
  buildTaskPod,
  INIT_CONTAINER,
  INJECTED_NON_ROOT_UID,
  LOGGING_CONTAINER,
  READINESS_FILE,
  STATUS_VOLUME,
  type TaskPodInput,
} from '../src/pod-builder.ts';

const FIXTURE = new URL('./fixtures/seed-resource-classes.yaml', import.meta.url);
const config = parseConfig({
  schema: LongshoreConfig,
  text: readFileSync(FIXTURE, 'utf8'),
  source: FIXTURE.pathname,
  env: {},
});
const TOKEN = 'task-token-integration-4b1d';
const IMAGE = 'cimg/base:2024.01'; // kwok: runs 1 s, then succeeds

const { core } = testKube();
let ns: Awaited<ReturnType<typeof tempNamespace>>;

beforeAll(async () => {
  ns = await tempNamespace(core, 'pod-builder');
});
afterAll(async () => {
  await ns?.cleanup();
});

interface BuildOptions {
  /** The job's containers; default: one plain primary container. */
  containers?: Record<string, unknown>[];
  /** Pod spec fields set over the class's own (a shallow merge). */
  spec?: Record<string, unknown>;
  platforms?: Platform[];
}

/** The builder's input for a fresh task of a resource class from the fixture, as the scheduler would make it. */
function inputFor(resourceClass: string, opts: BuildOptions = {}): TaskPodInput {
  const rc = config.agent.resourceClasses[resourceClass];
  if (rc === undefined) throw new Error(`no resource class ${resourceClass} in the fixture`);
  const taskId = randomUUID();
  return {
    taskId,
    attempt: 0,
    resourceClass,
    allocation: `alloc-${taskId.slice(0, 8)}`,
    token: TOKEN,
    task: TaskConfig.parse({
      task_id: taskId,
      resource_class: resourceClass,
      containers: opts.containers ?? [{ image: IMAGE, environment: { JOB_SECRET: 'job-secret-value' } }],
    }),
    classConfig: opts.spec ? { ...rc, spec: { ...rc.spec, ...opts.spec } } : rc,
    settings: {
      namespace: ns.name,
      runnerApiUrl: config.agent.runnerAPI,
      maxRunTimeMs: config.agent.maxRunTime,
      taskPod: config.agent.taskPod,
      ...(opts.platforms ? { platforms: opts.platforms } : {}),
    },
  };
}

/** Builds and creates the Secret, then the Pod, as the scheduler does; returns what the apiserver stored. */
async function launch(
  resourceClass: string,
  opts: BuildOptions = {},
): Promise<{ pod: V1Pod; secret: V1Secret; name: string }> {
  const built = buildTaskPod(inputFor(resourceClass, opts));
  const secret = await core.createNamespacedSecret({ namespace: ns.name, body: built.secret });
  const pod = await core.createNamespacedPod({ namespace: ns.name, body: built.pod });
  const name = pod.metadata?.name ?? '';
  expect(name).toBe(built.pod.metadata?.name);
  return { pod, secret, name };
}

const phase = (want: string) => (p: V1Pod) => p.status?.phase === want;
const scheduled = (p: V1Pod) => p.spec?.nodeName !== undefined;

async function nodeOf(core: CoreV1Api, pod: V1Pod) {
  return core.readNode({ name: pod.spec?.nodeName ?? '' });
}

function goatOf(secret: V1Secret): GoatConfig {
  const raw = secret.data?.[GOAT_CONFIG_SECRET_KEY] ?? '';
  return GoatConfig.parse(JSON.parse(Buffer.from(raw, 'base64').toString('utf8')));
}

function c0(pod: V1Pod) {
  return pod.spec?.containers.find((c) => c.name === PRIMARY_CONTAINER);
}

describe('task pods from the seeds’ resource class examples, in the real apiserver', () => {
  it('two-class example, first class: keeps annotations, resources, mounts, securityContext, pull secrets and volumes', async () => {
    const { pod, secret, name } = await launch('circleci-runner/resourceClass');

    expect(pod.metadata?.annotations).toMatchObject({ 'custom.io': 'my-annotation' });
    expect(pod.metadata?.labels).toMatchObject({
      [Labels.managedBy]: MANAGED_BY,
      [Labels.attempt]: '0',
      [Labels.resourceClass]: 'circleci-runner.resourceClass',
    });
    expect(pod.metadata?.annotations?.[Annotations.taskId]).toBe(goatOf(secret).task_id);

    const c = c0(pod);
    expect(c?.image).toBe(IMAGE);
    expect(c?.command).toEqual(['/opt/circleci/bin/orchestrator']);
    expect(c?.args).toEqual(['run-task']);
    expect(c?.resources?.limits).toEqual({ cpu: '500m' });
    expect(c?.volumeMounts).toEqual([
      { name: 'xyz', mountPath: '/path/to/mount' },
      { name: BIN_VOLUME, mountPath: '/opt/circleci/bin' },
    ]);
    expect(c?.env).toEqual([
      { name: GOAT_CONFIG_ENV, valueFrom: { secretKeyRef: { name, key: GOAT_CONFIG_SECRET_KEY } } },
    ]);
    expect(pod.spec?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'my_cred' }]);
    expect(pod.spec?.volumes).toEqual([
      { name: 'xyz', emptyDir: {} },
      { name: BIN_VOLUME, emptyDir: {} },
    ]);
    expect(pod.spec?.initContainers?.[0]).toMatchObject({
      name: INIT_CONTAINER,
      image: 'circleci/runner-init:agent',
      command: ['/orchestrator', 'init'],
      securityContext: { runAsUser: INJECTED_NON_ROOT_UID },
    });
    expect(pod.spec?.restartPolicy).toBe('Never');
    expect(pod.spec?.activeDeadlineSeconds).toBe(5 * 3600);

    expect(secret).toMatchObject({ type: 'Opaque', immutable: true });
    expect(secret.metadata?.labels).toEqual(pod.metadata?.labels);
    expect(goatOf(secret)).toMatchObject({
      token: TOKEN,
      readiness_file_path: '',
      enable_unsafe_retries: false,
    });
    expect(JSON.stringify(pod)).not.toContain(TOKEN);
    expect(JSON.stringify(pod)).not.toContain('job-secret-value');

    await waitForPod(core, ns.name, name, phase('Succeeded'));
  });

  it('two-class example, second class: only imagePullSecrets', async () => {
    const { pod, name } = await launch('circleci-runner/resourceClass2');
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'other' }]);
    expect(pod.spec?.initContainers?.[0]?.securityContext).toBeUndefined();
    await waitForPod(core, ns.name, name, phase('Succeeded'));
  });

  it('unsafe retries example: the spot class tolerates the spot taint, the other never lands there', async () => {
    const spot = await launch('namespace/my-rc-1', { spec: { nodeSelector: { lifecycle: 'Ec2Spot' } } });
    expect(spot.pod.spec?.tolerations).toContainEqual({
      key: 'lifecycle',
      operator: 'Equal',
      value: 'Ec2Spot',
      effect: 'NoExecute',
    });
    expect(goatOf(spot.secret).enable_unsafe_retries).toBe(true);
    expect((await waitForPod(core, ns.name, spot.name, scheduled)).spec?.nodeName).toBe('kwok-spot-0');

    // Without the toleration, a pod aimed at the spot node stays unschedulable.
    const plain = await launch('namespace/my-rc-2', { spec: { nodeSelector: { lifecycle: 'Ec2Spot' } } });
    expect(goatOf(plain.secret).enable_unsafe_retries).toBe(false);
    const stuck = await waitForPod(core, ns.name, plain.name, (p) =>
      (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
    );
    expect(stuck.spec?.nodeName).toBeUndefined();
  });

  it('constraint example: disktype=ssd lands on the ssd node', async () => {
    const { name } = await launch('circleci-runner/ssd');
    const pod = await waitForPod(core, ns.name, name, scheduled);
    expect(pod.spec?.nodeSelector).toEqual({ disktype: 'ssd' });
    expect(pod.spec?.nodeName).toBe('kwok-ssd-0');
  });

  it('FAQ arch example: each image arch lands on a node of that arch', async () => {
    for (const arch of ['amd64', 'arm64']) {
      const { name } = await launch(`my-org/${arch}-images`);
      const pod = await waitForPod(core, ns.name, name, scheduled);
      expect((await nodeOf(core, pod)).metadata?.labels?.['kubernetes.io/arch']).toBe(arch);
    }
  });

  it('Buildah example: the fuse extended resource is accepted (dry run: no node has the device)', async () => {
    const built = buildTaskPod(inputFor('my-org/buildah'));
    const stored = await core.createNamespacedPod({ namespace: ns.name, body: built.pod, dryRun: 'All' });
    expect(c0(stored)?.resources?.limits).toEqual({ 'github.com/fuse': '1' });
    // An extended resource's request defaults to its limit.
    expect(c0(stored)?.resources?.requests).toEqual({ 'github.com/fuse': '1' });
    await expect(
      core.readNamespacedPod({ namespace: ns.name, name: built.pod.metadata?.name ?? '' }),
    ).rejects.toMatchObject({ code: 404 });
  });
});

describe('service containers, in the real apiserver', () => {
  it('follow container 0’s spec, get the logging container, and the pod runs', async () => {
    const { pod, secret, name } = await launch('circleci-runner/resourceClass', {
      containers: [
        { image: IMAGE, environment: { JOB_SECRET: 'job-secret-value' } },
        {
          image: 'cimg/postgres:16.1',
          name: 'db',
          command: ['postgres', '-c', 'fsync=off'],
          environment: { POSTGRES_PASSWORD: 'pa$(s)s' },
        },
        { image: 'cimg/redis:7.2', name: 'Cache_1' },
      ],
    });
    expect(pod.spec?.containers.map((c) => c.name)).toEqual([
      PRIMARY_CONTAINER,
      'db',
      'container-2',
      LOGGING_CONTAINER,
    ]);
    const db = pod.spec?.containers[1];
    expect(db).toMatchObject({
      image: 'cimg/postgres:16.1',
      args: ['postgres', '-c', 'fsync=off'],
      resources: { limits: { cpu: '500m' } },
      volumeMounts: [{ name: 'xyz', mountPath: '/path/to/mount' }],
      env: [{ name: 'POSTGRES_PASSWORD', value: 'pa$$(s)s' }],
    });
    expect(pod.spec?.containers[3]?.resources).toEqual({
      requests: { cpu: '50m', memory: '64Mi' },
      limits: { cpu: '100m', memory: '128Mi' },
    });
    expect(pod.spec?.volumes?.map((v) => v.name)).toEqual(['xyz', BIN_VOLUME, STATUS_VOLUME]);
    expect(pod.spec?.hostAliases).toEqual([{ ip: '127.0.0.1', hostnames: ['db'] }]);
    expect(goatOf(secret).readiness_file_path).toBe(READINESS_FILE);
    expect(JSON.stringify(pod)).not.toContain(TOKEN);

    const running = await waitForPod(core, ns.name, name, phase('Running'));
    expect(running.status?.containerStatuses?.map((s) => s.name).sort()).toEqual(
      [PRIMARY_CONTAINER, 'db', 'container-2', LOGGING_CONTAINER].sort(),
    );
  });
});

describe('autodetectPlatform, in the real scheduler', () => {
  it('places the pod on a node of the image’s platform, AND-ed with the class’s own constraints', async () => {
    const arm = await launch('my-org/multiarch-images', { platforms: [{ os: 'linux', arch: 'arm64' }] });
    const armPod = await waitForPod(core, ns.name, arm.name, scheduled);
    expect(armPod.spec?.nodeName).toMatch(/^kwok-arm64-/);

    // ssd nodes are amd64: an arm64-only image cannot go there...
    const nowhere = await launch('circleci-runner/ssd', { platforms: [{ os: 'linux', arch: 'arm64' }] });
    await waitForPod(core, ns.name, nowhere.name, (p) =>
      (p.status?.conditions ?? []).some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'),
    );
    // ...but one that also has linux/amd64 can, even listed with an odd pair.
    const mixed = await launch('circleci-runner/ssd', {
      platforms: [
        { os: 'windows', arch: 'arm64' },
        { os: 'linux', arch: 'amd64' },
      ],
    });
    expect((await waitForPod(core, ns.name, mixed.name, scheduled)).spec?.nodeName).toBe('kwok-ssd-0');
  });
});

describe('a bad resource class spec, rejected by the apiserver', () => {
  /** Builds with a user spec (the builder accepts it: the apiserver is the judge) and tries to create it. */
  async function rejection(spec: Record<string, unknown>): Promise<unknown> {
    const built = buildTaskPod(inputFor('circleci-runner/resourceClass2', { spec }));
    const err = await core.createNamespacedPod({ namespace: ns.name, body: built.pod }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    await expect(
      core.readNamespacedPod({ namespace: ns.name, name: built.pod.metadata?.name ?? '' }),
    ).rejects.toMatchObject({ code: 404 });
    return err;
  }

  it('an invalid resource quantity: the apiserver cannot decode the pod, and says why', async () => {
    const err = await rejection({ containers: [{ resources: { limits: { cpu: 'lots' } } }] });
    expect(statusCodeOf(err)).toBe(400);
    expect(kubeErrorMessage(err)).toMatch(/quantities must match the regular expression/);
  });

  it('an invalid volume: the apiserver names the field', async () => {
    const err = await rejection({
      volumes: [{ name: 'scratch', emptyDir: {}, hostPath: { path: '/tmp' } }],
    });
    expect(isInvalid(err)).toBe(true);
    const message = kubeErrorMessage(err);
    expect(message).toMatch(/^Pod "lsta-[0-9a-f]{12}-0" is invalid: /);
    expect(message).toContain('spec.volumes[0]');
    expect(message).toContain('may not specify more than 1 volume type');
  });

  it('a mount of a volume that does not exist', async () => {
    const err = await rejection({ containers: [{ volumeMounts: [{ name: 'nope', mountPath: '/data' }] }] });
    expect(isInvalid(err)).toBe(true);
    expect(kubeErrorMessage(err)).toContain('spec.containers[0].volumeMounts[0].name: Not found: "nope"');
  });
});
