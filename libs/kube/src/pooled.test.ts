import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PooledKubeConfig } from './pooled.ts';

function kubeConfig(): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: 'https://127.0.0.1:6443',
        caData: Buffer.from('not a real CA').toString('base64'),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: 'u', token: 'the-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('PooledKubeConfig', () => {
  it('gives every request the same connection pool, and still its credentials', async () => {
    const kc = kubeConfig();
    const a = new RequestContext('https://127.0.0.1:6443/api/v1/pods', HttpMethod.GET);
    const b = new RequestContext('https://127.0.0.1:6443/api/v1/secrets', HttpMethod.POST);
    await kc.applySecurityAuthentication(a);
    await kc.applySecurityAuthentication(b);
    expect(a.getDispatcher()).toBeDefined();
    expect(b.getDispatcher()).toBe(a.getDispatcher());
    expect(b.getHeaders().Authorization).toBe('Bearer the-token');
  });

  it('keeps pools apart per KubeConfig', async () => {
    const a = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
    const b = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
    await kubeConfig().applySecurityAuthentication(a);
    await kubeConfig().applySecurityAuthentication(b);
    expect(b.getDispatcher()).not.toBe(a.getDispatcher());
  });
});
