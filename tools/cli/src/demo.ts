// The demo workload of the main job, and how each part is expected to end. Images choose
// each task pod's fate in the test bed (docs/testbed.md).
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import { GOAT_CONFIG_SECRET_KEY } from '@longshore/contracts';
import type { EnqueueTask } from '@longshore/runner-api-sim';

export interface DemoTask {
  label: string;
  task: EnqueueTask;
  expect: 'completed' | 'failed';
  /**
   * Who must have failed it: the pod (`report`: its task agent reported the job failed, and
   * its orchestrator exited 0) or a fail event (the runner's, for an orchestrator that could
   * not report).
   */
  failedBy?: 'report' | 'fail-event';
  /** How many claims the task should take (more than 1: retried after an interruption). */
  claims?: number;
  /**
   * What its pod and Secret must show while the task runs (the job config as a pod):
   * the problem found, or undefined. Checked once, when the task is scheduled.
   */
  podCheck?: { what: string; check: (pod: V1Pod, secret: V1Secret) => string | undefined };
}

/** The private image job's login; the password is made per run, as a secret never to be shown. */
export const DEMO_REGISTRY_USER = 'demo-bot';

const ENTRYPOINT = ['/usr/local/bin/start-services.sh', '--quiet'];
const COMMAND = ['--port', '8080'];

export const DEMO_CLASSES = {
  small: 'demo/small',
  arm: 'demo/arm',
  spot: 'demo/spot',
  machine: 'demo/machine',
} as const;

export function demoTasks(registryPassword: string): DemoTask[] {
  const small = DEMO_CLASSES.small;
  const arm = DEMO_CLASSES.arm;
  return [
    { label: 'build', task: { resource_class: small, image: 'fate.test/succeed:2s' }, expect: 'completed' },
    { label: 'test', task: { resource_class: small, image: 'fate.test/succeed:3s' }, expect: 'completed' },
    {
      label: 'integration (postgres service)',
      task: {
        resource_class: small,
        image: 'fate.test/succeed:3s',
        service_containers: [
          // A user name: Kubernetes runs containers as numbers only, so the tap warns.
          {
            image: 'cimg/postgres:16.0',
            name: 'db',
            user: 'postgres',
            environment: { POSTGRES_PASSWORD: 'demo' },
          },
          {
            image: 'cimg/redis:7.2',
            name: 'cache',
            user: '999:999',
            command: ['redis-server', '--save', ''],
          },
        ],
      },
      expect: 'completed',
      podCheck: {
        what: "cache runs as 999:999, db as its image's user",
        check: (pod) => {
          const cache = pod.spec?.containers.find((c) => c.name === 'cache');
          const db = pod.spec?.containers.find((c) => c.name === 'db');
          if (cache?.securityContext?.runAsUser !== 999 || cache.securityContext.runAsGroup !== 999)
            return 'cache has no runAsUser/runAsGroup 999';
          if (db?.securityContext?.runAsUser !== undefined) return 'db has a runAsUser';
          return undefined;
        },
      },
    },
    {
      label: 'custom entrypoint',
      task: {
        resource_class: small,
        image: 'fate.test/succeed:3s',
        entrypoint: ENTRYPOINT,
        command: COMMAND,
      },
      expect: 'completed',
      podCheck: {
        what: 'entrypoint and command given to the orchestrator',
        check: (_pod, secret) => {
          const cmd = goatCmd(secret);
          return JSON.stringify(cmd) === JSON.stringify([...ENTRYPOINT, ...COMMAND])
            ? undefined
            : `the orchestrator's cmd is ${JSON.stringify(cmd)}`;
        },
      },
    },
    {
      label: 'private image (registry login)',
      task: {
        resource_class: small,
        image: 'fate.test/succeed:3s',
        auth: { username: DEMO_REGISTRY_USER, password: registryPassword },
      },
      expect: 'completed',
      podCheck: {
        what: 'pulled with the task Secret as a docker config',
        check: (pod, secret) => {
          const name = pod.metadata?.name;
          if (!pod.spec?.imagePullSecrets?.some((s) => s.name === name)) return 'the pod has no pull secret';
          if (secret.type !== 'kubernetes.io/dockerconfigjson') return `the Secret is of type ${secret.type}`;
          const config = decode(secret, '.dockerconfigjson') as {
            auths?: Record<string, { username?: string }>;
          };
          return config?.auths?.['fate.test/succeed']?.username === DEMO_REGISTRY_USER
            ? undefined
            : 'the docker config has no login for fate.test/succeed';
        },
      },
    },
    {
      // The job fails, the pod reports it, and container 0 still exits 0: `reported` on the tap.
      label: 'lint (job fails)',
      task: { resource_class: small, image: 'fate.test/job-fail:1s' },
      expect: 'failed',
      failedBy: 'report',
    },
    {
      // The orchestrator exits 1: it could not report, so the runner fails the task.
      label: 'docs (orchestrator exits 1)',
      task: { resource_class: small, image: 'fate.test/exit-1:1s' },
      expect: 'failed',
      failedBy: 'fail-event',
    },
    {
      label: 'build arm64',
      task: { resource_class: arm, image: 'fate.test/succeed:2s' },
      expect: 'completed',
    },
    {
      label: 'test arm64',
      task: { resource_class: arm, image: 'fate.test/succeed:1s' },
      expect: 'completed',
    },
    {
      label: 'deploy on spot (evicted, retried)',
      task: { resource_class: DEMO_CLASSES.spot, image: 'fate.test/evict-first:1s' },
      expect: 'completed',
      claims: 2,
    },
  ];
}

/** Machine-runner tasks queued for the VM pool: it must grow to this, then shrink to its minimum. */
export const MACHINE_QUEUE = 3;
export const MACHINE_POOL = { minReplicas: 1, maxReplicas: 4 } as const;

function decode(secret: V1Secret, key: string): unknown {
  const raw = secret.data?.[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The orchestrator's custom entrypoint, read from the task Secret (nothing else of it is looked at). */
function goatCmd(secret: V1Secret): unknown {
  return (decode(secret, GOAT_CONFIG_SECRET_KEY) as { cmd?: unknown } | undefined)?.cmd;
}
