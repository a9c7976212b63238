// Throwaway namespaces on the test bed, for tests and benchmarks.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api } from '@kubernetes/client-node';

export interface TempNamespace {
  name: string;
  cleanup(): Promise<void>;
}

/**
 * Creates `<stem>-<random>` labelled `label=stem`; returns it and a cleanup function. The
 * test bed runs no controller-manager, so cleanup does the namespace controller's job:
 * delete the pods and Secrets, then clear the namespace's finalizer so it really goes away.
 */
export async function tempNamespace(
  core: CoreV1Api,
  stem: string,
  label = 'longshore.io/test',
): Promise<TempNamespace> {
  const name = `${stem}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { [label]: stem } } } });
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
