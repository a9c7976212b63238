// The API clients our services use, made once from a KubeConfig and passed in.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

export interface KubeClients {
  readonly kc: KubeConfig;
  /** Pods, Secrets, Nodes, Events. */
  readonly core: CoreV1Api;
  /** KubeVirt VirtualMachinePools and other custom resources. */
  readonly custom: CustomObjectsApi;
}

export function kubeClients(kc: KubeConfig): KubeClients {
  return { kc, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}
