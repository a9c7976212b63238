import { KubeConfig } from '@kubernetes/client-node';
import { LongshoreConfig } from '@longshore/config';
import { describe, expect, it } from 'vitest';
import { ownNamespace, taskNamespace } from './namespace.ts';

/** Credentials whose current context is in `namespace` (as in a pod: its service account's). */
function kubeConfigIn(namespace?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u', ...(namespace ? { namespace } : {}) }],
    currentContext: 'ctx',
  });
  return kc;
}

describe('ownNamespace', () => {
  it("is the current context's namespace, else default", () => {
    expect(ownNamespace(kubeConfigIn('runners'))).toBe('runners');
    expect(ownNamespace(kubeConfigIn())).toBe('default');
  });
});

describe('taskNamespace', () => {
  it('is agent.namespace, else kube.namespace, else the service’s own', () => {
    const kc = kubeConfigIn('own');
    expect(
      taskNamespace(LongshoreConfig.parse({ agent: { namespace: 'a' }, kube: { namespace: 'k' } }), kc),
    ).toBe('a');
    expect(taskNamespace(LongshoreConfig.parse({ kube: { namespace: 'k' } }), kc)).toBe('k');
    expect(taskNamespace(LongshoreConfig.parse({}), kc)).toBe('own');
    expect(taskNamespace(LongshoreConfig.parse({}), kubeConfigIn())).toBe('default');
  });
});
