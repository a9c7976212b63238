// A server-side dry run of rendered chart objects on the test bed's kube-apiserver: schema,
// defaulting and admission, cluster-scoped objects included, nothing stored.
import type { KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import type { Manifest } from './chart-render.ts';

/** Dry-runs each object; returns the failures, each naming the object and the apiserver's reason. */
export async function dryRun(api: KubernetesObjectApi, objects: readonly Manifest[]): Promise<string[]> {
  const failures: string[] = [];
  for (const o of objects) {
    try {
      await api.create(o as KubernetesObject, undefined, 'All');
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      failures.push(`${o.kind}/${o.metadata.name}: ${typeof body === 'string' ? body : String(err)}`);
    }
  }
  return failures;
}
