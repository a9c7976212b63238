import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeClients } from './clients.ts';
import { contextNamespace, KubeConfigError, loadKubeConfig } from './config.ts';

function kubeconfig(name: string, server: string, namespace?: string): string {
  return `apiVersion: v1
kind: Config
current-context: ${name}
clusters:
  - name: ${name}
    cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
  - name: ${name}
    user: {token: not-a-real-token}
contexts:
  - name: ${name}
    context: {cluster: ${name}, user: ${name}${namespace ? `, namespace: ${namespace}` : ''}}
`;
}

describe('loadKubeConfig', () => {
  let dir: string;
  let a: string;
  let b: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'longshore-kube-'));
    a = join(dir, 'a.yaml');
    b = join(dir, 'b.yaml');
    await writeFile(a, kubeconfig('a', 'https://127.0.0.1:6443', 'team-a'));
    await writeFile(b, kubeconfig('b', 'https://10.0.0.1:6443'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers the explicit path over KUBECONFIG', () => {
    const kc = loadKubeConfig({ kubeconfig: b, env: { KUBECONFIG: a } });
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
  });

  it('uses KUBECONFIG, merging a list with the first file’s context', () => {
    const kc = loadKubeConfig({ env: { KUBECONFIG: [a, b].join(delimiter) } });
    expect(kc.getCurrentContext()).toBe('a');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['a', 'b']);
    expect(contextNamespace(kc)).toBe('team-a');
  });

  it('falls back to the pod service account', async () => {
    const sa = join(dir, 'sa');
    await mkdir(sa, { recursive: true });
    await writeFile(join(sa, 'token'), 'x');
    await writeFile(join(sa, 'ca.crt'), 'x');
    await writeFile(join(sa, 'namespace'), 'runners\n');
    const kc = loadKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      serviceAccountDir: sa,
    });
    expect(kc.getCurrentCluster()).toMatchObject({
      server: 'https://10.96.0.1:443',
      caFile: join(sa, 'ca.crt'),
    });
    expect(contextNamespace(kc)).toBe('runners');
    expect(kubeClients(kc).core).toBeDefined();
  });

  it('explains what it tried when nothing is configured', () => {
    expect(() => loadKubeConfig({ env: {}, serviceAccountDir: join(dir, 'none') })).toThrow(KubeConfigError);
    expect(() => loadKubeConfig({ env: {}, serviceAccountDir: join(dir, 'none') })).toThrow(
      'no Kubernetes configuration: no kubeconfig path was configured (kube.kubeconfig), KUBECONFIG is not set, ' +
        'and this is not a pod with a service account (KUBERNETES_SERVICE_HOST/PORT are not set)',
    );
    expect(() =>
      loadKubeConfig({
        env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' },
        serviceAccountDir: join(dir, 'none'),
      }),
    ).toThrow(`(${join(dir, 'none', 'token')} does not exist)`);
  });

  it('names a missing or invalid file and where its path came from', async () => {
    expect(() => loadKubeConfig({ env: { KUBECONFIG: join(dir, 'missing') } })).toThrow(
      `kubeconfig ${join(dir, 'missing')} (from KUBECONFIG) does not exist`,
    );
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'clusters:\n  - name: x\n    cluster: {}\n');
    expect(() => loadKubeConfig({ kubeconfig: bad })).toThrow(
      `kubeconfig ${bad} (from the kubeconfig option) is invalid: clusters[0].cluster.server is missing`,
    );
    const noContext = join(dir, 'nocontext.yaml');
    await writeFile(noContext, 'apiVersion: v1\nkind: Config\nclusters: []\n');
    expect(() => loadKubeConfig({ kubeconfig: noContext })).toThrow('has no current-context');
  });
});
