// CRDs these tests need the test bed's apiserver to serve.
//
// The test bed installs a VirtualMachinePool CRD meant to keep any field; but written with
// the key 'x-kubernetes-preserve-unknown-fields', which client-node's serializer drops
// (its model property is x_kubernetes_preserve_unknown_fields), the CRD it creates prunes
// every field outside metadata, so a pool loses its spec. Until the test bed is fixed,
// ensurePoolCrdKeepsFields repairs the installed CRD in place (the test bed only creates
// it when absent, so the repair sticks). KubeVirt's VirtualMachine and
// VirtualMachineInstance kinds are installed the same way for the finished-VM sweep.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1CustomResourceDefinition,
  type V1CustomResourceDefinitionVersion,
  type V1JSONSchemaProps,
} from '@kubernetes/client-node';
import { isAlreadyExists } from '@longshore/kube';
import { POOL_API } from '../src/index.ts';

const KEEP_ALL: V1JSONSchemaProps = { type: 'object', x_kubernetes_preserve_unknown_fields: true };

export async function ensurePoolCrdKeepsFields(kc: KubeConfig, namespace: string): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const name = `${POOL_API.plural}.${POOL_API.group}`;
  const crd = await ext.readCustomResourceDefinition({ name });
  const versions = crd.spec.versions;
  if (versions.some((v) => v.schema?.openAPIV3Schema?.x_kubernetes_preserve_unknown_fields !== true)) {
    for (const v of versions) v.schema = { openAPIV3Schema: { ...KEEP_ALL } };
    await ext.replaceCustomResourceDefinition({ name, body: crd });
  }
  // The apiserver swaps in the new schema asynchronously: wait until a probe keeps its spec.
  const custom = kc.makeApiClient(CustomObjectsApi);
  const { group, version, plural } = POOL_API;
  const probe = `crd-probe-${randomBytes(3).toString('hex')}`;
  try {
    for (let i = 0; ; i++) {
      const body = {
        apiVersion: `${group}/${version}`,
        kind: POOL_API.kind,
        metadata: { name: probe },
        spec: { replicas: 0 },
      };
      const made = (await custom.createNamespacedCustomObject({
        group,
        version,
        plural,
        namespace,
        body,
      })) as {
        spec?: unknown;
      };
      await custom.deleteNamespacedCustomObject({ group, version, plural, namespace, name: probe });
      if (made.spec !== undefined) return;
      if (i > 100) throw new Error(`${name} still prunes spec after its repair`);
      await sleep(100);
    }
  } finally {
    await custom
      .deleteNamespacedCustomObject({ group, version, plural, namespace, name: probe })
      .catch(() => undefined);
  }
}

/** KubeVirt's VirtualMachine and VirtualMachineInstance kinds, keeping every field, status writable inline. */
export async function ensureKubevirtVmCrds(kc: KubeConfig): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const version: V1CustomResourceDefinitionVersion = {
    name: 'v1',
    served: true,
    storage: true,
    schema: { openAPIV3Schema: { ...KEEP_ALL } },
  };
  const crd = (kind: string, plural: string, short: string): V1CustomResourceDefinition => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.kubevirt.io` },
    spec: {
      group: 'kubevirt.io',
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List`, shortNames: [short] },
      versions: [version],
    },
  });
  for (const c of [
    crd('VirtualMachine', 'virtualmachines', 'vm'),
    crd('VirtualMachineInstance', 'virtualmachineinstances', 'vmi'),
  ]) {
    try {
      await ext.createCustomResourceDefinition({ body: c });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  for (let i = 0; ; i++) {
    const established = await Promise.all(
      ['virtualmachines.kubevirt.io', 'virtualmachineinstances.kubevirt.io'].map(async (name) => {
        const c = await ext.readCustomResourceDefinition({ name });
        return (c.status?.conditions ?? []).some((x) => x.type === 'Established' && x.status === 'True');
      }),
    );
    if (established.every(Boolean)) return;
    if (i > 100) throw new Error('the KubeVirt VM CRDs never became established');
    await sleep(100);
  }
}
