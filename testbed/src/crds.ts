// CRDs the test bed installs. KubeVirt generates its CRDs at run time (virt-operator), so
// there is no upstream YAML to apply; this is our own with the same names, the scale
// subresource and a permissive schema, enough for the vm-scaler to be exercised for real.
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';

export function virtualMachinePoolCrd(): V1CustomResourceDefinition {
  const version = (name: string, storage: boolean) => ({
    name,
    served: true,
    storage,
    schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
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
