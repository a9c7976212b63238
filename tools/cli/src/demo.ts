// The demo workload of the main job, and how each part is expected to end. Images choose
// each task pod's fate in the test bed (docs/testbed.md).
import type { EnqueueTask } from '@longshore/runner-api-sim';

export interface DemoTask {
  label: string;
  task: EnqueueTask;
  expect: 'completed' | 'failed';
  /** How many claims the task should take (more than 1: retried after an interruption). */
  claims?: number;
}

export const DEMO_CLASSES = {
  small: 'demo/small',
  arm: 'demo/arm',
  spot: 'demo/spot',
  machine: 'demo/machine',
} as const;

export function demoTasks(): DemoTask[] {
  const small = DEMO_CLASSES.small;
  const arm = DEMO_CLASSES.arm;
  return [
    { label: 'build', task: { resource_class: small, image: 'fate.test/succeed:2s' }, expect: 'completed' },
    { label: 'test', task: { resource_class: small, image: 'fate.test/succeed:3s' }, expect: 'completed' },
    {
      label: 'integration (postgres service)',
      task: {
        resource_class: small,
        image: 'fate.test/succeed:2s',
        service_containers: [
          { image: 'cimg/postgres:16.0', name: 'db', environment: { POSTGRES_PASSWORD: 'demo' } },
        ],
      },
      expect: 'completed',
    },
    {
      label: 'lint (fails: exit 1)',
      task: { resource_class: small, image: 'fate.test/exit-1:1s' },
      expect: 'failed',
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
