// Small helpers for integration tests that talk to the test bed's apiserver.
import { CoreV1Api, type CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readTestbedEnv } from '../env.ts';
import { waitFor } from '../wait.ts';

/** A client of the test bed's apiserver, as its admin. */
export function testKube() {
  const kc = new KubeConfig();
  kc.loadFromFile(readTestbedEnv().KUBECONFIG);
  return { kc, core: kc.makeApiClient(CoreV1Api) };
}

/** Polls a pod until pred holds; returns it. The error says what was last seen. */
export async function waitForPod(
  core: CoreV1Api,
  namespace: string,
  name: string,
  pred: (p: V1Pod) => boolean,
  timeoutMs = 30_000,
): Promise<V1Pod> {
  let last: V1Pod | undefined;
  return waitFor(
    `pod ${namespace}/${name} to match`,
    async () => {
      last = await core.readNamespacedPod({ name, namespace });
      return pred(last) ? last : undefined;
    },
    { timeoutMs, detail: () => `last status: ${JSON.stringify(last?.status)}` },
  );
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

const KUBEVIRT = { group: 'kubevirt.io', version: 'v1' } as const;

/**
 * A VirtualMachine and its VirtualMachineInstance in the given phase, as KubeVirt would
 * have made them for a pool (the test bed has the CRDs, not KubeVirt). Returns the VM's uid.
 */
export async function vmWithInstance(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  labels: Record<string, string>,
  phase: string,
): Promise<string> {
  const vm = (await custom.createNamespacedCustomObject({
    ...KUBEVIRT,
    plural: 'virtualmachines',
    namespace,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name, labels },
      spec: { runStrategy: 'Once' },
    },
  })) as { metadata: { uid: string } };
  await custom.createNamespacedCustomObject({
    ...KUBEVIRT,
    plural: 'virtualmachineinstances',
    namespace,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: {
        name,
        labels,
        ownerReferences: [
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachine',
            name,
            uid: vm.metadata.uid,
            controller: true,
          },
        ],
      },
      status: { phase },
    },
  });
  return vm.metadata.uid;
}
