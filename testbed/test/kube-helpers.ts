// Small helpers for integration tests that talk to the test bed's apiserver.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readTestbedEnv } from '../src/env.ts';

export function testKube() {
  const kc = new KubeConfig();
  kc.loadFromFile(readTestbedEnv().KUBECONFIG);
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/**
 * Creates a namespace unique to one test file; returns it and a cleanup function. The test
 * bed runs no controller-manager, so cleanup does the namespace controller's job: delete
 * the pods and Secrets, then clear the namespace's finalizer so it really goes away.
 */
export async function tempNamespace(core: CoreV1Api, stem: string) {
  const name = `${stem}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'longshore.io/test': stem } } } });
  return {
    name,
    cleanup: async () => {
      await core.deleteCollectionNamespacedPod({ namespace: name, gracePeriodSeconds: 0 }).catch(() => {});
      await core.deleteCollectionNamespacedSecret({ namespace: name }).catch(() => {});
      await core.deleteNamespace({ name }).catch(() => {});
      await core
        .replaceNamespaceFinalize({ name, body: { metadata: { name }, spec: { finalizers: [] } } })
        .catch(() => {});
    },
  };
}

/** Polls a pod until pred holds; returns it. The error says what was last seen. */
export async function waitForPod(
  core: CoreV1Api,
  namespace: string,
  name: string,
  pred: (p: V1Pod) => boolean,
  timeoutMs = 30_000,
): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  let last: V1Pod | undefined;
  while (Date.now() < deadline) {
    last = await core.readNamespacedPod({ name, namespace });
    if (pred(last)) return last;
    await sleep(100);
  }
  throw new Error(`pod ${namespace}/${name} never matched; last status: ${JSON.stringify(last?.status)}`);
}

export function simplePod(name: string, image: string, extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      initContainers: [{ name: 'init', image: 'circleci/runner-init:agent' }],
      containers: [{ name: 'container-0', image }],
      ...extra,
    },
  };
}
