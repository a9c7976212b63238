import { describe, expect, it } from 'vitest';
import { parseImageRef, RegistryImagePlatforms } from './image-platforms.ts';

describe('parseImageRef', () => {
  it('fills in Docker Hub, library/ and latest the way runtimes do', () => {
    expect(parseImageRef('ubuntu')).toEqual({
      registry: 'docker.io',
      repository: 'library/ubuntu',
      reference: 'latest',
    });
    expect(parseImageRef('cimg/base:2024.01')).toEqual({
      registry: 'docker.io',
      repository: 'cimg/base',
      reference: '2024.01',
    });
    expect(parseImageRef('ghcr.io/org/app@sha256:abc')).toEqual({
      registry: 'ghcr.io',
      repository: 'org/app',
      reference: 'sha256:abc',
    });
    expect(parseImageRef('localhost:5000/app:1')).toEqual({
      registry: 'localhost:5000',
      repository: 'app',
      reference: '1',
    });
  });
});

describe('RegistryImagePlatforms', () => {
  it('reads an index, following an anonymous bearer challenge, and caches the answer', async () => {
    const calls: string[] = [];
    const fake: typeof fetch = async (input, init) => {
      const url = String(input);
      calls.push(url);
      if (url.startsWith('https://auth.example/token')) return Response.json({ token: 'anon' });
      const auth = (init?.headers as Record<string, string> | undefined)?.authorization;
      if (!auth) {
        return new Response('', {
          status: 401,
          headers: {
            'www-authenticate': 'Bearer realm="https://auth.example/token",service="registry.example"',
          },
        });
      }
      return Response.json({
        manifests: [
          { platform: { os: 'linux', architecture: 'amd64' } },
          { platform: { os: 'linux', architecture: 'arm64' } },
          { platform: { os: 'unknown', architecture: 'unknown' } },
        ],
      });
    };
    const r = new RegistryImagePlatforms({ fetch: fake });
    const want = [
      { os: 'linux', arch: 'amd64' },
      { os: 'linux', arch: 'arm64' },
    ];
    expect(await r.platformsOf('registry.example/org/app:1')).toEqual(want);
    expect(await r.platformsOf('registry.example/org/app:1')).toEqual(want);
    expect(calls.filter((c) => c.includes('/manifests/'))).toHaveLength(2); // challenge + authorised, once
  });

  it('reads a single manifest through its config blob', async () => {
    const fake: typeof fetch = async (input) =>
      String(input).includes('/blobs/')
        ? Response.json({ os: 'linux', architecture: 'arm64' })
        : Response.json({ config: { digest: 'sha256:cfg' } });
    expect(await new RegistryImagePlatforms({ fetch: fake }).platformsOf('localhost:5000/app:1')).toEqual([
      { os: 'linux', arch: 'arm64' },
    ]);
  });

  it('answers unknown when the registry cannot be reached', async () => {
    const fake: typeof fetch = async () => {
      throw new TypeError('fetch failed');
    };
    expect(await new RegistryImagePlatforms({ fetch: fake }).platformsOf('cimg/base:1')).toBeUndefined();
  });
});
