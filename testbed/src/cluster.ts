// What the test bed installs into its fresh cluster, idempotently.
import type { ApiextensionsV1Api, CoreV1Api, V1CustomResourceDefinition } from '@kubernetes/client-node';
import { type NodeShape, nodeObject } from './fleet.ts';

function code(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err
    ? Number((err as { code: unknown }).code)
    : undefined;
}

export async function ensureCrd(ext: ApiextensionsV1Api, crd: V1CustomResourceDefinition): Promise<void> {
  try {
    await ext.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if (code(err) !== 409) throw err;
  }
}

export async function crdEstablished(ext: ApiextensionsV1Api, name: string): Promise<boolean> {
  const crd = await ext.readCustomResourceDefinition({ name });
  return (crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
}

export async function ensureNodes(core: CoreV1Api, shapes: NodeShape[]): Promise<void> {
  // A few at a time: a fleet of 100+ nodes should not open 100 connections at once.
  const queue = [...shapes];
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      try {
        await core.createNode({ body: nodeObject(s) });
      } catch (err) {
        if (code(err) !== 409) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

export async function nodesReady(core: CoreV1Api, want: number): Promise<boolean> {
  const list = await core.listNode({ labelSelector: 'type=kwok' });
  const ready = list.items.filter((n) =>
    (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  return ready.length >= want;
}
