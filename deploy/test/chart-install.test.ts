// The README's install, upgrade and uninstall, with the real helm against the test bed's
// apiserver. The test bed runs no controller-manager, so no pod starts: what is checked is
// what Kubernetes would act on, the stored Deployments, their pod templates and the RBAC.
import { AppsV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { readTestbedEnv, tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, CONTAINER_AGENT_VALUES, helm, PROVISIONER_VALUES } from './chart-render.ts';

const { kc, core } = testKube();
const apps = kc.makeApiClient(AppsV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const KUBE = { KUBECONFIG: readTestbedEnv().KUBECONFIG };
const FILES = [CONTAINER_AGENT_VALUES, PROVISIONER_VALUES];
let ns: Awaited<ReturnType<typeof tempNamespace>>;

beforeAll(async () => {
  ns = await tempNamespace(core, 'chart-install');
});
afterAll(async () => {
  await helm(['uninstall', 'ls', '--namespace', ns.name], {}, KUBE);
  await ns?.cleanup();
});

async function podAnnotations(name: string): Promise<Record<string, string>> {
  const d = await apps.readNamespacedDeployment({ name, namespace: ns.name });
  return d.spec?.template.metadata?.annotations ?? {};
}

describe('helm install, upgrade and uninstall on the test bed', () => {
  it('installs; a values change rolls the pods through checksum/config; uninstall removes every object', async () => {
    const constraintsOn = { agent: { constraintChecker: { enable: true } } };
    const install = await helm(
      ['install', 'ls', CHART, '--namespace', ns.name],
      { files: FILES, values: constraintsOn },
      KUBE,
    );
    expect(install.code, install.stderr).toBe(0);
    const deployments = await apps.listNamespacedDeployment({ namespace: ns.name });
    expect(deployments.items.map((d) => d.metadata?.name).sort()).toEqual(
      ['claimer', 'constraints', 'gc', 'scheduler', 'vm-scaler'].map((s) => `ls-longshore-${s}`),
    );
    const before = await podAnnotations('ls-longshore-claimer');

    const upgrade = await helm(
      ['upgrade', 'ls', CHART, '--namespace', ns.name],
      { files: FILES, values: { agent: { constraintChecker: { enable: true }, maxConcurrentTasks: 7 } } },
      KUBE,
    );
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const after = await podAnnotations('ls-longshore-claimer');
    expect(after['checksum/config']).not.toBe(before['checksum/config']);
    expect(after['checksum/secret']).toBe(before['checksum/secret']);

    const clusterRole = `ls-longshore-constraints-${ns.name}`;
    await rbac.readClusterRole({ name: clusterRole });
    const uninstall = await helm(['uninstall', 'ls', '--namespace', ns.name], {}, KUBE);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect((await apps.listNamespacedDeployment({ namespace: ns.name })).items).toEqual([]);
    expect((await rbac.listNamespacedRole({ namespace: ns.name })).items).toEqual([]);
    await expect(rbac.readClusterRole({ name: clusterRole })).rejects.toMatchObject({ code: 404 });
  });
});
