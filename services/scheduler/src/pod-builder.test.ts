import type { V1Container, V1Pod } from '@kubernetes/client-node';
import {
  Annotations,
  GOAT_CONFIG_ENV,
  GOAT_CONFIG_SECRET_KEY,
  GoatConfig,
  Labels,
  MANAGED_BY,
  PRIMARY_CONTAINER,
  TaskConfig,
  taskObjectName,
  WARNINGS_ANNOTATION,
} from '@longshore/contracts';
import { describe, expect, it } from 'vitest';
import { ARCH_LABEL, OS_LABEL } from './platform.ts';
import {
  BIN_VOLUME,
  buildTaskPod,
  DOCKER_CONFIG_KEY,
  DOCKER_CONFIG_SECRET_TYPE,
  INIT_CONTAINER,
  INJECTED_NON_ROOT_UID,
  LOGGING_CONTAINER,
  LOGGING_RESOURCES,
  LOGGING_TOKEN_VOLUME,
  READINESS_FILE,
  runAsOf,
  STATUS_DIR,
  STATUS_VOLUME,
  TaskPodError,
  type TaskPodInput,
} from './pod-builder.ts';

const TASK_ID = '5f0c7a52-8d3b-4b7e-9a57-0d6c1f2e3a4b';
const TOKEN = 'task-token-do-not-leak-7f3a9c';
const RC = 'my-org/big';

/** A valid input; `task` fields go through TaskConfig.parse, as the Runner API's would. */
function input(
  over: { task?: Record<string, unknown> } & Partial<Omit<TaskPodInput, 'task'>> = {},
): TaskPodInput {
  const { task, ...rest } = over;
  return {
    taskId: TASK_ID,
    attempt: 2,
    resourceClass: RC,
    allocation: 'alloc-1',
    token: TOKEN,
    task: TaskConfig.parse({
      task_id: TASK_ID,
      resource_class: RC,
      containers: [
        {
          image: 'cimg/node:22.1',
          entrypoint: ['/bin/sh', '-c'],
          command: ['run'],
          user: 'circleci',
          environment: { SECRET_THING: 'hunter2' },
        },
      ],
      ssh_advertise_addr: '10.0.0.5:54782',
      ...task,
    }),
    classConfig: { enableUnsafeRetries: false },
    settings: {
      namespace: 'tasks',
      runnerApiUrl: 'https://runner.example.com',
      maxRunTimeMs: 5 * 3600_000,
      taskPod: {
        initImage: 'circleci/runner-init:agent',
        binDir: '/opt/circleci/bin',
        loggingImage: 'log:1',
      },
    },
    ...rest,
  };
}

const withServices = (...services: Record<string, unknown>[]) => ({
  containers: [{ image: 'cimg/node:22.1', environment: { SECRET_THING: 'hunter2' } }, ...services],
});

function container(pod: V1Pod, name: string): V1Container {
  const c = pod.spec?.containers.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no container ${name}`);
  return c;
}

function goatOf(secret: ReturnType<typeof buildTaskPod>['secret']): GoatConfig {
  return GoatConfig.parse(JSON.parse(secret.stringData?.[GOAT_CONFIG_SECRET_KEY] ?? 'null'));
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** A resource class spec using most Pod fields, as a user might write it. */
const RICH_SPEC = {
  containers: [
    {
      name: 'ignored-name',
      image: 'ignored:image',
      command: ['ignored'],
      args: ['ignored'],
      workingDir: '/ignored',
      resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' } },
      volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
      securityContext: { allowPrivilegeEscalation: false },
      env: [
        { name: 'FROM_CLASS', value: 'yes' },
        { name: GOAT_CONFIG_ENV, value: 'user tried to set it' },
        { name: 'AFTER', value: 'kept' },
      ],
      envFrom: [{ configMapRef: { name: 'proxy' } }],
      ports: [{ containerPort: 7623, name: 'health' }],
      livenessProbe: { httpGet: { path: '/live', port: 7623 } },
      imagePullPolicy: 'IfNotPresent',
    },
    { name: 'extra', image: 'extra:1' },
  ],
  initContainers: [{ name: 'warm-cache', image: 'busybox' }],
  volumes: [{ name: 'cache', emptyDir: {} }],
  nodeSelector: { disktype: 'ssd' },
  tolerations: [{ key: 'lifecycle', operator: 'Equal', value: 'Ec2Spot', effect: 'NoExecute' }],
  affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
  imagePullSecrets: [{ name: 'my_cred' }],
  securityContext: { fsGroup: 3434 },
  serviceAccountName: 'ci',
  priorityClassName: 'ci-low',
  restartPolicy: 'Always',
  dnsPolicy: 'ClusterFirst',
};

describe('buildTaskPod: identity and metadata', () => {
  it('names both objects after the task attempt, in our namespace', () => {
    const { pod, secret } = buildTaskPod(
      input({
        classConfig: {
          enableUnsafeRetries: false,
          metadata: { name: 'x', namespace: 'elsewhere', generateName: 'g-', finalizers: ['f.io/x'] },
        },
      }),
    );
    const name = taskObjectName(TASK_ID, 2);
    expect(pod.metadata).toMatchObject({ name, namespace: 'tasks', finalizers: ['f.io/x'] });
    expect(pod.metadata?.generateName).toBeUndefined();
    expect(secret.metadata).toMatchObject({ name, namespace: 'tasks' });
  });

  it("puts the user's labels on both objects and ours on top; the user's annotations plus the task id on the pod", () => {
    const { pod, secret } = buildTaskPod(
      input({
        classConfig: {
          enableUnsafeRetries: false,
          metadata: {
            labels: { team: 'web', [Labels.managedBy]: 'someone-else', [Labels.attempt]: '9' },
            annotations: { 'custom.io': 'my-annotation' },
          },
        },
      }),
    );
    const labels = {
      team: 'web',
      [Labels.managedBy]: MANAGED_BY,
      [Labels.taskId]: TASK_ID,
      [Labels.attempt]: '2',
      [Labels.resourceClass]: 'my-org.big',
    };
    expect(pod.metadata?.labels).toEqual(labels);
    expect(secret.metadata?.labels).toEqual(labels);
    expect(pod.metadata?.annotations).toMatchObject({
      'custom.io': 'my-annotation',
      [Annotations.taskId]: TASK_ID,
    });
    expect(secret.metadata?.annotations?.[Annotations.taskId]).toBe(TASK_ID);
    expect(secret.metadata?.annotations?.['custom.io']).toBeUndefined();
  });

  it('leaves a resource class too long for a label value to the annotation', () => {
    const rc = `my-org/${'x'.repeat(70)}`;
    const { pod } = buildTaskPod(input({ resourceClass: rc }));
    expect(pod.metadata?.labels?.[Labels.resourceClass]).toBeUndefined();
    expect(pod.metadata?.annotations?.[Annotations.resourceClass]).toBe(rc);
  });
});

describe('buildTaskPod: container 0 and the pod spec', () => {
  const built = () => buildTaskPod(input({ classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC } }));

  it("overwrites exactly the seeds' fields on containers[0] and keeps the rest of the user's container", () => {
    const c0 = built().pod.spec?.containers[0];
    expect(c0?.name).toBe(PRIMARY_CONTAINER);
    expect(c0?.image).toBe('cimg/node:22.1');
    expect(c0?.command).toEqual(['/opt/circleci/bin/orchestrator']);
    expect(c0?.args).toEqual(['run-task']);
    expect(c0).not.toHaveProperty('workingDir');
    const user = RICH_SPEC.containers[0];
    expect(c0).toMatchObject({
      resources: user?.resources,
      securityContext: user?.securityContext,
      envFrom: user?.envFrom,
      ports: user?.ports,
      livenessProbe: user?.livenessProbe,
      imagePullPolicy: 'IfNotPresent',
    });
    expect(c0?.volumeMounts).toEqual([
      { name: 'cache', mountPath: '/cache' },
      { name: BIN_VOLUME, mountPath: '/opt/circleci/bin' },
    ]);
  });

  it("keeps the user's pod fields and sets restartPolicy Never", () => {
    const spec = built().pod.spec;
    expect(spec).toMatchObject({
      nodeSelector: RICH_SPEC.nodeSelector,
      tolerations: RICH_SPEC.tolerations,
      affinity: RICH_SPEC.affinity,
      imagePullSecrets: RICH_SPEC.imagePullSecrets,
      securityContext: RICH_SPEC.securityContext,
      serviceAccountName: 'ci',
      priorityClassName: 'ci-low',
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Never',
    });
    expect(spec?.volumes).toEqual([
      { name: 'cache', emptyDir: {} },
      { name: BIN_VOLUME, emptyDir: {} },
    ]);
  });

  it('does not use user containers beyond the first (no job container to run in them)', () => {
    expect(built().pod.spec?.containers.map((c) => c.name)).toEqual([PRIMARY_CONTAINER]);
  });

  it("gives container 0 the orchestrator's config from the Secret, after the user's env, replacing a same-named var", () => {
    const { pod, secret } = built();
    expect(pod.spec?.containers[0]?.env).toEqual([
      { name: 'FROM_CLASS', value: 'yes' },
      {
        name: GOAT_CONFIG_ENV,
        valueFrom: { secretKeyRef: { name: secret.metadata?.name, key: GOAT_CONFIG_SECRET_KEY } },
      },
      { name: 'AFTER', value: 'kept' },
    ]);
    const plain = buildTaskPod(input()).pod.spec?.containers[0]?.env;
    expect(plain?.map((e) => e.name)).toEqual([GOAT_CONFIG_ENV]);
  });

  it("does not put the job's environment in the pod (the task agent gets it from CircleCI)", () => {
    expect(JSON.stringify(built().pod)).not.toContain('hunter2');
  });

  it('injects the task agent with an init container ahead of the user’s, through a shared volume at binDir', () => {
    const { pod, secret } = buildTaskPod(
      input({
        classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC },
        settings: {
          ...input().settings,
          taskPod: { initImage: 'mirror/init:1', binDir: '/ci/bin', loggingImage: 'l' },
        },
      }),
    );
    expect(pod.spec?.initContainers).toEqual([
      {
        name: INIT_CONTAINER,
        image: 'mirror/init:1',
        command: ['/orchestrator', 'init'],
        env: [{ name: 'DESTINATION', value: '/ci/bin' }],
        volumeMounts: [{ name: BIN_VOLUME, mountPath: '/ci/bin' }],
      },
      { name: 'warm-cache', image: 'busybox' },
    ]);
    expect(pod.spec?.containers[0]?.command).toEqual(['/ci/bin/orchestrator']);
    expect(pod.spec?.containers[0]?.volumeMounts).toContainEqual({ name: BIN_VOLUME, mountPath: '/ci/bin' });
    expect(goatOf(secret).task_agent_path).toBe('/ci/bin/circleci-agent');
  });

  it('enforces maxRunTime with activeDeadlineSeconds, keeping a stricter deadline the user set', () => {
    const deadline = (maxRunTimeMs: number, spec?: Record<string, unknown>) =>
      buildTaskPod(
        input({
          settings: { ...input().settings, maxRunTimeMs },
          classConfig: { enableUnsafeRetries: false, ...(spec ? { spec } : {}) },
        }),
      ).pod.spec?.activeDeadlineSeconds;
    expect(deadline(5 * 3600_000)).toBe(18_000);
    expect(deadline(1500)).toBe(2);
    expect(deadline(3600_000, { activeDeadlineSeconds: 60 })).toBe(60);
    expect(deadline(60_000, { activeDeadlineSeconds: 3600 })).toBe(60);
  });

  it('runs the injected containers as non-root when the pod demands it without a uid', () => {
    const sc = (securityContext: Record<string, unknown>) => {
      const { pod } = buildTaskPod(
        input({
          task: withServices({ image: 'redis:7' }),
          classConfig: { enableUnsafeRetries: false, spec: { securityContext } },
        }),
      );
      return [
        pod.spec?.initContainers?.[0]?.securityContext,
        container(pod, LOGGING_CONTAINER).securityContext,
      ];
    };
    expect(sc({ runAsNonRoot: true })).toEqual([
      { runAsUser: INJECTED_NON_ROOT_UID },
      { runAsUser: INJECTED_NON_ROOT_UID },
    ]);
    expect(sc({ runAsNonRoot: true, runAsUser: 1001 })).toEqual([undefined, undefined]);
    expect(sc({})).toEqual([undefined, undefined]);
  });
});

describe('buildTaskPod: service containers', () => {
  const services = () =>
    buildTaskPod(
      input({
        task: withServices(
          {
            image: 'cimg/postgres:16.1',
            name: 'db',
            entrypoint: ['docker-entrypoint.sh'],
            command: ['postgres', '-c', 'fsync=off'],
            environment: { POSTGRES_PASSWORD: 'pa$(s)s', FROM_CLASS: 'overridden' },
          },
          { image: 'redis:7', name: 'Not_A_DNS_Name' },
          { image: 'redis:7', name: 'db' },
        ),
        classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC },
      }),
    );

  it("follows container 0's spec (resources, securityContext, mounts, env) with the job's image, entrypoint and command", () => {
    const { pod } = services();
    const db = container(pod, 'db');
    const user = RICH_SPEC.containers[0];
    expect(db).toMatchObject({
      image: 'cimg/postgres:16.1',
      command: ['docker-entrypoint.sh'],
      args: ['postgres', '-c', 'fsync=off'],
      resources: user?.resources,
      securityContext: user?.securityContext,
      envFrom: user?.envFrom,
      volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
      imagePullPolicy: 'IfNotPresent',
    });
    for (const key of ['workingDir', 'ports', 'livenessProbe']) expect(db).not.toHaveProperty(key);
    const redis = container(pod, 'container-2');
    expect(redis.command).toBeUndefined();
    expect(redis.args).toBeUndefined();
  });

  it("sets the service's own environment, literally, but not the orchestrator's config or shared volume", () => {
    const db = container(services().pod, 'db');
    expect(db.env).toEqual([
      { name: 'FROM_CLASS', value: 'overridden' },
      { name: GOAT_CONFIG_ENV, value: 'user tried to set it' },
      { name: 'AFTER', value: 'kept' },
      // $ doubled: the kubelet's $(VAR) expansion then gives back exactly pa$(s)s
      { name: 'POSTGRES_PASSWORD', value: 'pa$$(s)s' },
    ]);
    expect(db.env?.some((e) => e.valueFrom?.secretKeyRef)).toBe(false);
    expect(db.volumeMounts?.some((m) => m.name === BIN_VOLUME || m.name === STATUS_VOLUME)).toBe(false);
  });

  it('names each service container by its job name when valid and free, else container-<i>', () => {
    expect(services().pod.spec?.containers.map((c) => c.name)).toEqual([
      PRIMARY_CONTAINER,
      'db',
      'container-2',
      'container-3',
      LOGGING_CONTAINER,
    ]);
    const clash = buildTaskPod(
      input({
        task: withServices(
          { image: 'a', name: 'container-2' },
          { image: 'b' },
          { image: 'c', name: 'container-0' },
        ),
      }),
    );
    expect(clash.pod.spec?.containers.map((c) => c.name)).toEqual([
      PRIMARY_CONTAINER,
      'container-2',
      'container-2-1',
      'container-3',
      LOGGING_CONTAINER,
    ]);
  });

  it('makes named services reachable by name on localhost', () => {
    // not_a_dns_name has an underscore: no alias for it
    expect(services().pod.spec?.hostAliases).toEqual([{ ip: '127.0.0.1', hostnames: ['db'] }]);
  });

  it('adds the logging container with the seed’s resources and waits for readiness, only with service containers', () => {
    const { pod, secret } = services();
    expect(container(pod, LOGGING_CONTAINER)).toEqual({
      name: LOGGING_CONTAINER,
      image: 'log:1',
      resources: {
        requests: { cpu: '50m', memory: '64Mi' },
        limits: { cpu: '100m', memory: '128Mi' },
      },
      volumeMounts: [{ name: STATUS_VOLUME, mountPath: STATUS_DIR }],
    });
    expect(LOGGING_RESOURCES.requests.cpu).toBe('50m');
    expect(pod.spec?.volumes).toContainEqual({ name: STATUS_VOLUME, emptyDir: {} });
    expect(pod.spec?.containers[0]?.volumeMounts).toContainEqual({
      name: STATUS_VOLUME,
      mountPath: STATUS_DIR,
    });
    expect(goatOf(secret).readiness_file_path).toBe(READINESS_FILE);
    expect(READINESS_FILE.startsWith(`${STATUS_DIR}/`)).toBe(true);

    const alone = buildTaskPod(input({ classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC } }));
    expect(alone.pod.spec?.containers.some((c) => c.name === LOGGING_CONTAINER)).toBe(false);
    expect(alone.pod.spec?.volumes?.some((v) => v.name === STATUS_VOLUME)).toBe(false);
    expect(alone.pod.spec?.hostAliases).toBeUndefined();
    expect(goatOf(alone.secret).readiness_file_path).toBe('');
  });

  it('mounts the logging token Secret as in-cluster credentials in the logging container only', () => {
    const withToken = (task: ReturnType<typeof withServices> | undefined) => {
      const base = input(task === undefined ? {} : { task });
      return buildTaskPod({
        ...base,
        settings: {
          ...base.settings,
          taskPod: { ...base.settings.taskPod, loggingTokenSecret: 'logging-token' },
        },
      });
    };
    const { pod } = withToken(withServices({ image: 'cimg/postgres:16.1', name: 'db' }));
    expect(pod.spec?.volumes).toContainEqual({
      name: LOGGING_TOKEN_VOLUME,
      secret: { secretName: 'logging-token' },
    });
    expect(container(pod, LOGGING_CONTAINER).volumeMounts).toEqual([
      { name: STATUS_VOLUME, mountPath: STATUS_DIR },
      {
        name: LOGGING_TOKEN_VOLUME,
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      },
    ]);
    for (const c of pod.spec?.containers ?? []) {
      if (c.name !== LOGGING_CONTAINER)
        expect(c.volumeMounts?.some((m) => m.name === LOGGING_TOKEN_VOLUME) ?? false).toBe(false);
    }
    // No service containers, no logging container: the Secret is not mounted at all.
    expect(withToken(undefined).pod.spec?.volumes?.some((v) => v.name === LOGGING_TOKEN_VOLUME)).toBe(false);
  });
});

describe('buildTaskPod: the Secret', () => {
  it("holds the orchestrator's settings, token included, as one JSON document", () => {
    const { secret } = buildTaskPod(input({ classConfig: { enableUnsafeRetries: true } }));
    expect(secret).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', immutable: true });
    expect(goatOf(secret)).toEqual({
      cmd: ['/bin/sh', '-c', 'run'],
      user: 'circleci',
      task_id: TASK_ID,
      readiness_file_path: '',
      enable_unsafe_retries: true,
      token: TOKEN,
      task_agent_path: '/opt/circleci/bin/circleci-agent',
      runner_api_base_url: 'https://runner.example.com',
      allocation: 'alloc-1',
      ssh_advertise_addr: '10.0.0.5:54782',
      max_run_time: 5 * 3600 * 1e9,
    });
  });

  it('never puts the token in the pod', () => {
    const { pod, secret } = buildTaskPod(
      input({
        task: withServices({ image: 'redis:7' }),
        classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC },
      }),
    );
    expect(JSON.stringify(pod)).not.toContain(TOKEN);
    expect(JSON.stringify(secret)).toContain(TOKEN);
  });

  it('defaults the user to the image’s own when the job names none', () => {
    const { secret } = buildTaskPod(input({ task: { containers: [{ image: 'x', environment: {} }] } }));
    expect(goatOf(secret).user).toBe('');
  });
});

describe('buildTaskPod: autodetectPlatform', () => {
  it('requires the image’s OS/arch, merged into the user’s required node affinity', () => {
    const { pod } = buildTaskPod(
      input({
        classConfig: {
          enableUnsafeRetries: false,
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: 'pool', operator: 'In', values: ['a'] }] },
                    { matchExpressions: [{ key: 'pool', operator: 'In', values: ['b'] }] },
                  ],
                },
                preferredDuringSchedulingIgnoredDuringExecution: [
                  { weight: 1, preference: { matchExpressions: [{ key: 'z', operator: 'Exists' }] } },
                ],
              },
            },
          },
        },
        settings: { ...input().settings, platforms: [{ os: 'linux', arch: 'arm64' }] },
      }),
    );
    const na = pod.spec?.affinity?.nodeAffinity;
    expect(na?.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    const terms = na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    expect(terms.map((t) => t.matchExpressions?.map((e) => `${e.key} ${e.values?.join(',') ?? ''}`))).toEqual(
      [
        ['pool a', `${OS_LABEL} linux`, `${ARCH_LABEL} arm64`],
        ['pool b', `${OS_LABEL} linux`, `${ARCH_LABEL} arm64`],
      ],
    );
  });

  it('leaves affinity alone without platforms', () => {
    const { pod } = buildTaskPod(input({ classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC } }));
    expect(pod.spec?.affinity).toEqual(RICH_SPEC.affinity);
    expect(buildTaskPod(input()).pod.spec?.affinity).toBeUndefined();
  });
});

describe('buildTaskPod: purity and errors', () => {
  it('does not modify its input', () => {
    const inp = input({
      task: withServices(
        { image: 'redis:7', name: 'cache', environment: { A: '1' }, user: '999:999' },
        {
          image: 'ghcr.io/acme/db:1',
          name: 'db',
          user: 'postgres',
          auth: { username: 'u', password: 'p-123456' },
        },
      ),
      classConfig: {
        enableUnsafeRetries: false,
        spec: structuredClone(RICH_SPEC),
        metadata: { labels: { a: 'b' }, annotations: { c: 'd' } },
      },
      settings: { ...input().settings, platforms: [{ os: 'linux', arch: 'amd64' }] },
    });
    const before = structuredClone(inp);
    deepFreeze(inp); // any write into the input now throws
    const first = buildTaskPod(inp);
    expect(inp).toEqual(before);
    expect(buildTaskPod(inp)).toEqual(first);
  });

  const fails = (over: Parameters<typeof input>[0]) => {
    try {
      buildTaskPod(input(over));
    } catch (err) {
      expect(err).toBeInstanceOf(TaskPodError);
      return (err as TaskPodError).message;
    }
    throw new Error('expected a TaskPodError');
  };
  const spec = (s: Record<string, unknown>) => ({ classConfig: { enableUnsafeRetries: false, spec: s } });

  it('refuses a user volume, init container or mount path that clashes with ours, naming the config key', () => {
    expect(
      fails(
        spec({
          volumes: [
            { name: 'x', emptyDir: {} },
            { name: BIN_VOLUME, emptyDir: {} },
          ],
        }),
      ),
    ).toBe(
      `cannot build the task pod: agent.resourceClasses["${RC}"].spec.volumes[1].name: "${BIN_VOLUME}" is reserved for a volume the runner adds to task pods; rename it`,
    );
    expect(fails(spec({ volumes: [{ name: STATUS_VOLUME, emptyDir: {} }] }))).toContain('volumes[0].name');
    expect(fails(spec({ volumes: [{ name: LOGGING_TOKEN_VOLUME, emptyDir: {} }] }))).toContain(
      'volumes[0].name',
    );
    expect(fails(spec({ initContainers: [{ name: INIT_CONTAINER, image: 'x' }] }))).toContain(
      'spec.initContainers[0].name',
    );
    expect(
      fails(spec({ containers: [{ volumeMounts: [{ name: 'v', mountPath: '/opt/circleci/bin/' }] }] })),
    ).toContain('spec.containers[0].volumeMounts[0].mountPath');
  });

  it('refuses fields of the wrong shape where it merges, naming the key', () => {
    expect(fails(spec({ containers: { resources: {} } }))).toContain('spec.containers: must be a list');
    expect(fails(spec({ containers: [{ env: [{ name: 'A' }, 'B=1'] }] }))).toContain(
      'spec.containers[0].env[1]',
    );
    expect(fails(spec({ activeDeadlineSeconds: '60' }))).toContain('spec.activeDeadlineSeconds');
    expect(
      fails({ classConfig: { enableUnsafeRetries: false, metadata: { labels: { tier: 1 } } } }),
    ).toContain('metadata.labels.tier: must be a string');
    expect(
      fails({
        ...spec({
          affinity: {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: {} } },
          },
        }),
        settings: { ...input().settings, platforms: [{ os: 'linux', arch: 'amd64' }] },
      }),
    ).toContain('nodeSelectorTerms: must be a list');
  });

  it('refuses settings the orchestrator could not use, with the cause and without the token', () => {
    const err = (() => {
      try {
        buildTaskPod(input({ allocation: '' }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TaskPodError);
    expect((err as TaskPodError).message).toContain('allocation');
    expect((err as TaskPodError).cause).toBeDefined();
    expect(fails({ taskId: 'other-task' })).toContain('the task config is for task');
    expect(
      fails({ settings: { ...input().settings, taskPod: { ...input().settings.taskPod, binDir: '/a b' } } }),
    ).toContain('agent.taskPod.binDir');
  });
});

describe("buildTaskPod: the primary container's entrypoint, command and user", () => {
  const primary = (c: Record<string, unknown>) =>
    buildTaskPod(input({ task: { containers: [{ image: 'cimg/node:22.1', ...c }] } }));

  it('gives the orchestrator the entrypoint then the command as its custom entrypoint (cmd)', () => {
    const built = primary({
      entrypoint: ['/usr/local/bin/start-db.sh', '--quiet'],
      command: ['--port', '5432'],
    });
    expect(goatOf(built.secret).cmd).toEqual(['/usr/local/bin/start-db.sh', '--quiet', '--port', '5432']);
    expect(built.warnings).toEqual([]);
    expect(goatOf(primary({ entrypoint: ['/sbin/tini', '--'] }).secret).cmd).toEqual(['/sbin/tini', '--']);
  });

  it('starts no custom entrypoint when the job gives neither; container 0 still runs the orchestrator', () => {
    const built = primary({});
    expect(goatOf(built.secret).cmd).toEqual([]);
    expect(built.pod.spec?.containers[0]).toMatchObject({
      command: ['/opt/circleci/bin/orchestrator'],
      args: ['run-task'],
    });
    expect(built.warnings).toEqual([]);
  });

  it('starts a command without an entrypoint as it is, and says the image’s ENTRYPOINT is not run', () => {
    const built = primary({ command: ['redis-server', '--save', ''] });
    expect(goatOf(built.secret).cmd).toEqual(['redis-server', '--save', '']);
    expect(built.warnings).toEqual([
      "primary container (cimg/node:22.1): a command without an entrypoint is started as it is; the image's own ENTRYPOINT is not run",
    ]);
    expect(JSON.parse(built.pod.metadata?.annotations?.[WARNINGS_ANNOTATION] ?? '[]')).toEqual(
      built.warnings,
    );
  });

  it("hands the user to the orchestrator, not to the pod's securityContext", () => {
    const built = primary({ user: 'circleci' });
    expect(goatOf(built.secret).user).toBe('circleci');
    expect(built.pod.spec?.containers[0]?.securityContext).toBeUndefined();
    expect(built.warnings).toEqual([]);
    expect(built.pod.metadata?.annotations).not.toHaveProperty(WARNINGS_ANNOTATION);
    // Nor can the class's metadata put warnings there that the scheduler did not give.
    const forged = buildTaskPod(
      input({
        classConfig: {
          enableUnsafeRetries: false,
          metadata: { annotations: { [WARNINGS_ANNOTATION]: '["x"]' } },
        },
      }),
    );
    expect(forged.pod.metadata?.annotations).not.toHaveProperty(WARNINGS_ANNOTATION);
  });

  it('warns that a numeric user reaches the orchestrator as a name it must find in the image', () => {
    for (const user of ['1000', '1000:1000']) {
      const built = primary({ user });
      expect(goatOf(built.secret).user).toBe(user);
      expect(built.warnings).toEqual([expect.stringContaining(`user "${user}" goes to the orchestrator`)]);
    }
    expect(primary({ user: 'root' }).warnings).toEqual([]);
  });
});

describe("buildTaskPod: service containers' user", () => {
  const withUsers = (users: (string | undefined)[], spec?: Record<string, unknown>) =>
    buildTaskPod(
      input({
        task: withServices(
          ...users.map((user, i) => ({
            image: 'cimg/postgres:16.1',
            name: `s${i}`,
            ...(user ? { user } : {}),
          })),
        ),
        ...(spec ? { classConfig: { enableUnsafeRetries: false, spec } } : {}),
      }),
    );

  it('runs a numeric uid, uid:gid or root as runAsUser and runAsGroup', () => {
    const { pod, warnings } = withUsers(['1000', '1000:2000', 'root', 'root:0', undefined]);
    expect([0, 1, 2, 3, 4].map((i) => container(pod, `s${i}`).securityContext)).toEqual([
      { runAsUser: 1000 },
      { runAsUser: 1000, runAsGroup: 2000 },
      { runAsUser: 0 },
      { runAsUser: 0, runAsGroup: 0 },
      undefined,
    ]);
    expect(warnings).toEqual([]);
  });

  it("keeps the class template's securityContext, the job's user over its runAsUser and runAsGroup", () => {
    const spec = {
      containers: [{ securityContext: { allowPrivilegeEscalation: false, runAsUser: 5, runAsGroup: 6 } }],
    };
    const { pod } = withUsers(['70', undefined], spec);
    expect(container(pod, 's0').securityContext).toEqual({ allowPrivilegeEscalation: false, runAsUser: 70 });
    expect(container(pod, 's1').securityContext).toEqual({
      allowPrivilegeEscalation: false,
      runAsUser: 5,
      runAsGroup: 6,
    });
  });

  it('leaves a user Kubernetes cannot run as (a name) to the image, and says so', () => {
    const { pod, warnings } = withUsers(['postgres', '1000:staff', '99999999999']);
    for (const i of [0, 1, 2]) expect(container(pod, `s${i}`).securityContext).toBeUndefined();
    expect(warnings).toEqual([
      `service container s0 (cimg/postgres:16.1): user "postgres" is not a numeric uid[:gid] or root, and Kubernetes runs containers as numbers only; it runs as the image's user`,
      expect.stringContaining('s1 (cimg/postgres:16.1): user "1000:staff" is not a numeric'),
      expect.stringContaining('s2 (cimg/postgres:16.1): user "99999999999" is not a numeric'),
    ]);
    expect(JSON.parse(pod.metadata?.annotations?.[WARNINGS_ANNOTATION] ?? '[]')).toEqual(warnings);
  });

  it('refuses root where the class demands runAsNonRoot, and sets no user on Windows pods', () => {
    expect(() => withUsers(['root'], { securityContext: { runAsNonRoot: true } })).toThrow(
      'service container s0 (cimg/postgres:16.1) asks for user "root", but the resource class\'s pod spec sets runAsNonRoot',
    );
    expect(() => withUsers(['0:0'], { containers: [{ securityContext: { runAsNonRoot: true } }] })).toThrow(
      TaskPodError,
    );
    // The container's own setting wins over the pod's.
    expect(
      container(
        withUsers(['root'], {
          securityContext: { runAsNonRoot: true },
          containers: [{ securityContext: { runAsNonRoot: false } }],
        }).pod,
        's0',
      ).securityContext,
    ).toEqual({ runAsNonRoot: false, runAsUser: 0 });
    const windows = withUsers(['1000'], { os: { name: 'windows' } });
    expect(container(windows.pod, 's0').securityContext).toBeUndefined();
    expect(windows.warnings).toEqual([expect.stringContaining('is not set on a Windows pod')]);
  });

  it('maps users as Docker spells them', () => {
    expect(runAsOf('0')).toEqual({ runAsUser: 0 });
    expect(runAsOf('2147483647:1')).toEqual({ runAsUser: 2147483647, runAsGroup: 1 });
    for (const u of ['', 'postgres', '1000:', ':1000', '1:2:3', '-1', '2147483648', 'root:wheel', ' 1'])
      expect(runAsOf(u), u).toBeUndefined();
  });
});

describe('buildTaskPod: private images', () => {
  const PASSWORD = 'registry-password-do-not-leak';
  const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  const decode = (secret: ReturnType<typeof buildTaskPod>['secret']) =>
    JSON.parse(secret.stringData?.[DOCKER_CONFIG_KEY] ?? 'null') as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };

  it("makes the task Secret a docker config the pod pulls with, after the class's own pull secrets", () => {
    const { pod, secret } = buildTaskPod(
      input({
        task: {
          containers: [
            { image: 'ghcr.io/acme/app:1', auth: { username: 'bot', password: PASSWORD } },
            { image: 'postgres:16', name: 'db', auth: { username: 'hub-user', password: 'hub-password-1' } },
            { image: 'redis:7', name: 'cache' },
          ],
        },
        classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC },
      }),
    );
    const name = taskObjectName(TASK_ID, 2);
    expect(secret.type).toBe(DOCKER_CONFIG_SECRET_TYPE);
    expect(secret.immutable).toBe(true);
    expect(Object.keys(secret.stringData ?? {}).sort()).toEqual([DOCKER_CONFIG_KEY, GOAT_CONFIG_SECRET_KEY]);
    expect(goatOf(secret).token).toBe(TOKEN);
    expect(decode(secret)).toEqual({
      auths: {
        'ghcr.io/acme/app': {
          username: 'bot',
          password: PASSWORD,
          auth: Buffer.from(`bot:${PASSWORD}`).toString('base64'),
        },
        'docker.io/library/postgres': {
          username: 'hub-user',
          password: 'hub-password-1',
          auth: Buffer.from('hub-user:hub-password-1').toString('base64'),
        },
      },
    });
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'my_cred' }, { name }]);
    expect(JSON.stringify(pod)).not.toContain(PASSWORD);
    expect(JSON.stringify(pod)).not.toContain('hub-password-1');
  });

  it('leaves a task without logins an Opaque Secret and the pod’s pull secrets as the class has them', () => {
    const rich = buildTaskPod(input({ classConfig: { enableUnsafeRetries: false, spec: RICH_SPEC } }));
    expect(rich.secret.type).toBe('Opaque');
    expect(rich.secret.stringData).not.toHaveProperty(DOCKER_CONFIG_KEY);
    expect(rich.pod.spec?.imagePullSecrets).toEqual([{ name: 'my_cred' }]);
    expect(buildTaskPod(input()).pod.spec?.imagePullSecrets).toBeUndefined();
  });

  it('uses the ECR login fetched for a container with aws_auth', () => {
    const task = {
      containers: [
        {
          image: `${ECR}/team/app:1`,
          aws_auth: {
            aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE',
            aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG',
          },
        },
      ],
    };
    const { pod, secret } = buildTaskPod(
      input({ task, registryLogins: { 0: { username: 'AWS', password: 'ecr-token-password' } } }),
    );
    expect(decode(secret).auths).toEqual({
      [`${ECR}/team/app`]: {
        username: 'AWS',
        password: 'ecr-token-password',
        auth: Buffer.from('AWS:ecr-token-password').toString('base64'),
      },
    });
    expect(pod.spec?.imagePullSecrets).toEqual([{ name: taskObjectName(TASK_ID, 2) }]);
    // The access keys were for getting the login; they go nowhere else.
    expect(JSON.stringify(secret)).not.toContain('wJalrXUtnFEMI/K7MDENG');
    expect(() => buildTaskPod(input({ task }))).toThrow('no ECR login was fetched for container 0');
  });

  it('refuses one repository with two different logins, and takes the same login twice', () => {
    const twice = (p2: string) =>
      buildTaskPod(
        input({
          task: withServices(
            { image: 'ghcr.io/acme/db:1', name: 'a', auth: { username: 'u', password: 'p1-long-enough' } },
            { image: 'ghcr.io/acme/db:2', name: 'b', auth: { username: 'u', password: p2 } },
          ),
        }),
      );
    expect(Object.keys(decode(twice('p1-long-enough').secret).auths)).toEqual(['ghcr.io/acme/db']);
    expect(() => twice('p2-long-enough')).toThrow(
      'two containers pull ghcr.io/acme/db with different logins',
    );
  });
});
