// CRDs the test bed installs. KubeVirt generates its CRDs at run time (virt-operator), so
// there is no upstream YAML to apply; these are our own with the same names, the pool's
// scale subresource and a permissive schema, enough for the vm-scaler to be exercised for
// real. (client-node spells the schema extension x_kubernetes_preserve_unknown_fields; the
// dashed key would be dropped silently and the apiserver would prune every spec.)
import type { V1CustomResourceDefinition, V1CustomResourceDefinitionVersion } from '@kubernetes/client-node';

const KEEP_ALL = { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } };

export function virtualMachinePoolCrd(): V1CustomResourceDefinition {
  const version = (name: string, storage: boolean): V1CustomResourceDefinitionVersion => ({
    name,
    served: true,
    storage,
    schema: KEEP_ALL,
    subresources: {
      status: {},
      scale: {
        specReplicasPath: '.spec.replicas',
        statusReplicasPath: '.status.replicas',
        labelSelectorPath: '.status.labelSelector',
      },
    },
  });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'virtualmachinepools.pool.kubevirt.io' },
    spec: {
      group: 'pool.kubevirt.io',
      scope: 'Namespaced',
      names: {
        kind: 'VirtualMachinePool',
        plural: 'virtualmachinepools',
        singular: 'virtualmachinepool',
        listKind: 'VirtualMachinePoolList',
        shortNames: ['vmpool'],
      },
      versions: [version('v1alpha1', false), version('v1beta1', true)],
    },
  };
}

/** KubeVirt's VirtualMachine and VirtualMachineInstance kinds (kubevirt.io/v1), any field kept. */
export function kubevirtVmCrds(): V1CustomResourceDefinition[] {
  const crd = (kind: string, plural: string, short: string): V1CustomResourceDefinition => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.kubevirt.io` },
    spec: {
      group: 'kubevirt.io',
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List`, shortNames: [short] },
      versions: [{ name: 'v1', served: true, storage: true, schema: KEEP_ALL }],
    },
  });
  return [
    crd('VirtualMachine', 'virtualmachines', 'vm'),
    crd('VirtualMachineInstance', 'virtualmachineinstances', 'vmi'),
  ];
}
