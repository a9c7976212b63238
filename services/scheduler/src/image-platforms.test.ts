import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ImageLookupError,
  type LookupOutcome,
  nodePlatforms,
  parseImageRef,
  RegistryImagePlatforms,
} from './image-platforms.ts';

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

describe('nodePlatforms', () => {
  it('keeps each platform a node label can carry, once', () => {
    expect(
      nodePlatforms([
        { os: 'linux', arch: 'amd64' },
        { os: 'linux', arch: 'amd64' },
        { os: 'unknown', arch: 'unknown' },
        { os: 'linux', arch: '' },
        { os: 'linux', arch: 'arm64; rm -rf /' },
        { os: 'linux', arch: 'x'.repeat(64) },
        { os: 'windows', arch: 'arm64' },
      ]),
    ).toEqual([
      { os: 'linux', arch: 'amd64' },
      { os: 'windows', arch: 'arm64' },
    ]);
    expect(nodePlatforms([{ os: 'unknown', arch: 'unknown' }])).toBeUndefined();
  });
});

describe('RegistryImagePlatforms against hostile registries (real HTTP on loopback)', () => {
  const MiB = 1024 * 1024;
  const TOKEN = 'anon-registry-token-9d2c41';
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
  });

  /** A registry on 127.0.0.1 (spoken to over plain HTTP) and a client of it that records its lookups. */
  async function registry(handler: (req: IncomingMessage, res: ServerResponse, host: string) => void) {
    let host = '';
    server = createServer((req, res) => handler(req, res, host));
    server.on('connection', (s) => s.on('error', () => {})); // dropped on purpose by the client
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const lookups: [LookupOutcome, ImageLookupError | undefined][] = [];
    const platforms = new RegistryImagePlatforms({
      timeoutMs: 300,
      onLookup: (outcome, failure) => lookups.push([outcome, failure]),
    });
    /** The platforms of image `name` on this registry, and the failure behind an unknown answer. */
    const lookup = async (name: string) => {
      const found = await platforms.platformsOf(`${host}/${name}`);
      const [outcome, failure] = lookups.at(-1) ?? [];
      expect(outcome).toBe(found ? 'resolved' : 'unknown');
      if (failure) expect(inspect(failure, { depth: 10, showHidden: true })).not.toContain(TOKEN);
      return { found, failure: failure?.message };
    };
    return { host, lookup };
  }

  const json = (res: ServerResponse, body: unknown, status = 200) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  it('reads a normal index', async () => {
    const { lookup } = await registry((_req, res) =>
      json(res, { manifests: [{ platform: { os: 'linux', architecture: 'arm64' } }] }),
    );
    expect(await lookup('org/app:1')).toEqual({
      found: [{ os: 'linux', arch: 'arm64' }],
      failure: undefined,
    });
  });

  it('treats a manifest over 4 MiB as unknown, by content-length or by counting, without reading it all', async () => {
    let sent = 0;
    const { host, lookup } = await registry((req, res) => {
      if (req.url?.includes('/declared/')) {
        res.writeHead(200, { 'content-length': String(50 * MiB) });
        res.write('{"manifests":[');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, ' ');
      const pump = () => {
        while (sent < 50 * MiB && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    expect(await lookup('org/declared:1')).toEqual({
      found: undefined,
      failure: `${host}/org/declared:1: manifest: answer body over the 4 MiB limit (content-length ${50 * MiB})`,
    });
    const streamed = await lookup('org/streamed:1');
    expect(streamed.failure).toMatch(
      /: manifest: answer body over the 4 MiB limit \(stopped after \d+ bytes\)$/,
    );
    expect(sent).toBeLessThan(50 * MiB);
  });

  it('times out a registry that dribbles its answer', async () => {
    const { host, lookup } = await registry((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(timer));
    });
    expect(await lookup('org/slow:1')).toEqual({
      found: undefined,
      failure: `${host}/org/slow:1: manifest: no answer within 300 ms`,
    });
  });

  it('treats answers of the wrong shape as unknown, saying what was wrong', async () => {
    const answers: Record<string, unknown> = {
      '/v2/org/notjson/manifests/1': '<html>',
      '/v2/org/string/manifests/1': { manifests: 'linux/amd64' },
      '/v2/org/numbers/manifests/1': { manifests: [{ platform: { os: 7, architecture: 'amd64' } }] },
      '/v2/org/digest/manifests/1': { config: { digest: '../../../admin?x=' } },
      '/v2/org/config/manifests/1': { config: { digest: 'sha256:abc' } },
      '/v2/org/config/blobs/sha256:abc': { os: ['linux'], architecture: 'amd64' },
    };
    const { host, lookup } = await registry((req, res) => {
      const body = answers[req.url ?? ''];
      if (typeof body === 'string') res.end(body);
      else json(res, body ?? {}, body ? 200 : 404);
    });
    const failures = [];
    for (const name of ['notjson', 'string', 'numbers', 'digest', 'config']) {
      const { found, failure } = await lookup(`org/${name}:1`);
      expect(found).toBeUndefined();
      failures.push(failure?.replace(`${host}/`, ''));
    }
    expect(failures).toEqual([
      'org/notjson:1: manifest: answer is not JSON (no content-type, 6 chars)',
      expect.stringMatching(/^org\/string:1: manifest: answer is not the expected shape \(manifests: /),
      expect.stringMatching(
        /^org\/numbers:1: manifest: answer is not the expected shape \(manifests\.0\.platform\.os: /,
      ),
      expect.stringMatching(
        /^org\/digest:1: manifest: answer is not the expected shape \(config\.digest: not a digest\)$/,
      ),
      expect.stringMatching(/^org\/config:1: image config: answer is not the expected shape \(os: /),
    ]);
  });

  it('uses one anonymous token per lookup and never puts it in a failure', async () => {
    let tokenRequests = 0;
    const { host, lookup } = await registry((req, res, registryHost) => {
      if (req.url?.startsWith('/token')) {
        tokenRequests++;
        return json(res, { token: req.url.includes('bad') ? `${TOKEN}\n` : TOKEN });
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        const scope = req.url?.includes('bad') ? 'bad' : 'good';
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${registryHost}/token/${scope}",service="registry"`,
        });
        return res.end();
      }
      if (req.url?.includes('/manifests/')) return json(res, { config: { digest: 'sha256:cfg' } });
      // The config blob echoes the token, and is too large.
      res.writeHead(200, { 'content-length': String(5 * MiB) });
      res.end(TOKEN.repeat(Math.ceil((5 * MiB) / TOKEN.length)).slice(0, 5 * MiB));
    });
    expect(await lookup('org/echo:1')).toEqual({
      found: undefined,
      failure: `${host}/org/echo:1: image config: answer body over the 4 MiB limit (content-length ${5 * MiB})`,
    });
    expect(tokenRequests).toBe(1);
    expect(await lookup('org/bad:1')).toEqual({
      found: undefined,
      failure: `${host}/org/bad:1: token: answer is not the expected shape (token: not a header-safe token)`,
    });
  });
});
