// Where a service works when the configuration names no namespace: its own. In a pod that is
// the namespace of its service account (the file mounted beside the token, which
// loadKubeConfig makes the in-cluster context's namespace); from a kubeconfig, the current
// context's namespace; else Kubernetes' default.
import type { KubeConfig } from '@kubernetes/client-node';
import type { LongshoreConfig } from '@longshore/config';
import { contextNamespace } from '@longshore/kube';

/** Kubernetes' namespace for objects that name none. */
export const DEFAULT_NAMESPACE = 'default';

/** The namespace of the credentials' current context (a pod's own), else "default". */
export function ownNamespace(kc: KubeConfig): string {
  return contextNamespace(kc) ?? DEFAULT_NAMESPACE;
}

/**
 * Where task pods and their Secrets live, and where agent.customSecret is read:
 * agent.namespace, else kube.namespace, else the service's own namespace.
 */
export function taskNamespace(cfg: LongshoreConfig, kc: KubeConfig): string {
  return cfg.agent.namespace ?? cfg.kube.namespace ?? ownNamespace(kc);
}
