// The local limit: a minimal client with no Longshore in the way creates, on the same
// apiserver and kwok nodes, exactly the objects the scheduler creates per task (the task
// Secret and Pod, built by the scheduler's own buildTaskPod from the same config), at the
// same concurrency (agent.maxConcurrentTasks), follows each pod to its end through one
// watch, as the scheduler does, and deletes both. Like the scheduler, it sends each pair
// (the two creates, the two deletes) at once.
import { randomBytes, randomUUID } from 'node:crypto';
import { CoreV1Api, type KubeConfig, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { MANAGED_SELECTOR, TaskConfig } from '@longshore/contracts';
import { buildTaskPod, classifyPod, type SchedulerSettings } from '@longshore/scheduler';

export interface BaselineOptions {
  /** The bench-baseline user's config (its requests are counted in the audit log). */
  kc: KubeConfig;
  settings: SchedulerSettings;
  tasks: number;
  concurrency: number;
  image: string;
  classes: string[];
}

export interface BaselineResult {
  tasks: number;
  elapsedMs: number;
  /** When each task's objects were gone (epoch ms). */
  completions: number[];
  /** Secret created -> pod ended -> both deleted, per task (ms). */
  createToEndMs: number[];
  endToDeletedMs: number[];
}

export async function runBaseline(o: BaselineOptions): Promise<BaselineResult> {
  const core = o.kc.makeApiClient(CoreV1Api);
  const ns = o.settings.namespace;
  const waiting = new Map<string, () => void>();
  const informer = makeInformer<V1Pod>(
    o.kc,
    `/api/v1/namespaces/${ns}/pods`,
    () => core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED_SELECTOR }),
    MANAGED_SELECTOR,
  );
  const check = (pod: V1Pod) => {
    const name = pod.metadata?.name;
    const done = name ? waiting.get(name) : undefined;
    if (!done || pod.metadata?.deletionTimestamp) return;
    const state = classifyPod(pod, {
      now: new Date(),
      imagePullTimeoutMs: Infinity,
      unschedulableTimeoutMs: Infinity,
    });
    if (state.kind === 'ended') {
      waiting.delete(name!);
      done();
    }
  };
  informer.on('add', check);
  informer.on('update', check);
  await informer.start();

  const result: BaselineResult = {
    tasks: 0,
    elapsedMs: 0,
    completions: [],
    createToEndMs: [],
    endToDeletedMs: [],
  };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < o.tasks; i = next++) {
      const rc = o.classes[i % o.classes.length]!;
      const taskId = randomUUID();
      const { secret, pod } = buildTaskPod({
        taskId,
        attempt: 1,
        resourceClass: rc,
        allocation: randomUUID(),
        token: randomBytes(32).toString('hex'),
        task: TaskConfig.parse({
          task_id: taskId,
          resource_class: rc,
          containers: [{ image: o.image }],
        }),
        classConfig: o.settings.resourceClasses[rc] ?? { enableUnsafeRetries: false },
        settings: {
          namespace: ns,
          runnerApiUrl: o.settings.runnerApiUrl,
          maxRunTimeMs: o.settings.maxRunTimeMs,
          taskPod: o.settings.taskPod,
        },
      });
      const name = pod.metadata!.name!;
      const ended = new Promise<void>((resolve) => waiting.set(name, resolve));
      const t0 = Date.now();
      // Each pair at once, as the scheduler sends them.
      await Promise.all([
        core.createNamespacedSecret({ namespace: ns, body: secret }),
        core.createNamespacedPod({ namespace: ns, body: pod }),
      ]);
      await ended;
      const t1 = Date.now();
      await Promise.all([
        core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 }),
        core.deleteNamespacedSecret({ name, namespace: ns }),
      ]);
      const t2 = Date.now();
      result.createToEndMs.push(t1 - t0);
      result.endToDeletedMs.push(t2 - t1);
      result.completions.push(t2);
      result.tasks++;
    }
  };
  const start = Date.now();
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    await informer.stop();
  }
  result.elapsedMs = Date.now() - start;
  return result;
}
