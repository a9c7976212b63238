// autodetectPlatform: which OS/architecture pairs a task's primary image can run on, read
// from its registry the way a container runtime would (the OCI distribution API), so its
// pod is only placed on nodes that can run it. Unknown (registry unreachable, private
// image without credentials) means no constraint: the pod goes where the class's own spec
// sends it, as with autodetect off.
import type { Platform } from './platform.ts';

/** Port: the platforms an image supports, or undefined when they cannot be learned. */
export interface ImagePlatforms {
  platformsOf(image: string): Promise<Platform[] | undefined>;
}

export interface ImageRef {
  registry: string;
  repository: string;
  reference: string;
}

/** Parses a Docker-style reference: default registry docker.io, `library/` for bare names, tag latest. */
export function parseImageRef(image: string): ImageRef {
  let rest = image;
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : 'docker.io';
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository, reference };
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface Manifest {
  manifests?: { platform?: { os?: string; architecture?: string } }[];
  config?: { digest?: string };
}

export interface RegistryImagePlatformsOptions {
  timeoutMs?: number;
  /** How long an answer is kept; failures are kept for failureTtlMs. */
  ttlMs?: number;
  failureTtlMs?: number;
  fetch?: typeof fetch;
  onLookup?: (outcome: 'hit' | 'resolved' | 'unknown') => void;
}

export class RegistryImagePlatforms implements ImagePlatforms {
  readonly #cache = new Map<string, { until: number; value: Promise<Platform[] | undefined> }>();
  readonly #o: Required<Omit<RegistryImagePlatformsOptions, 'onLookup'>> &
    Pick<RegistryImagePlatformsOptions, 'onLookup'>;

  constructor(o: RegistryImagePlatformsOptions = {}) {
    this.#o = {
      timeoutMs: o.timeoutMs ?? 5_000,
      ttlMs: o.ttlMs ?? 3_600_000,
      failureTtlMs: o.failureTtlMs ?? 300_000,
      fetch: o.fetch ?? fetch,
      onLookup: o.onLookup,
    };
  }

  platformsOf(image: string): Promise<Platform[] | undefined> {
    const now = Date.now();
    const hit = this.#cache.get(image);
    if (hit && hit.until > now) {
      this.#o.onLookup?.('hit');
      return hit.value;
    }
    const value = this.#lookup(image).catch(() => undefined);
    const entry = { until: now + this.#o.ttlMs, value };
    this.#cache.set(image, entry);
    void value.then((v) => {
      this.#o.onLookup?.(v ? 'resolved' : 'unknown');
      if (!v) entry.until = Date.now() + this.#o.failureTtlMs;
    });
    return value;
  }

  async #lookup(image: string): Promise<Platform[] | undefined> {
    const ref = parseImageRef(image);
    // Like container runtimes, a registry on this host is spoken to over plain HTTP.
    const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
    const local = /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(host);
    const base = `${local ? 'http' : 'https'}://${host}/v2/${ref.repository}`;
    const manifest = (await this.#get(`${base}/manifests/${ref.reference}`, ref)) as Manifest;
    if (manifest.manifests) {
      const out = manifest.manifests
        .map((m) => ({ os: m.platform?.os ?? '', arch: m.platform?.architecture ?? '' }))
        .filter((p) => p.os && p.arch && p.os !== 'unknown' && p.arch !== 'unknown');
      return out.length > 0 ? dedupe(out) : undefined;
    }
    if (manifest.config?.digest) {
      const cfg = (await this.#get(`${base}/blobs/${manifest.config.digest}`, ref)) as {
        os?: string;
        architecture?: string;
      };
      if (cfg.os && cfg.architecture) return [{ os: cfg.os, arch: cfg.architecture }];
    }
    return undefined;
  }

  async #get(url: string, ref: ImageRef, token?: string): Promise<unknown> {
    const res = await this.#o.fetch(url, {
      headers: { accept: MANIFEST_TYPES, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(this.#o.timeoutMs),
    });
    if (res.status === 401 && !token) {
      // Public images still need an anonymous bearer token from the realm the registry names.
      const t = await this.#anonymousToken(res.headers.get('www-authenticate') ?? '', ref);
      if (t) return this.#get(url, ref, t);
    }
    if (!res.ok) throw new Error(`registry answered ${res.status}`);
    return res.json();
  }

  async #anonymousToken(challenge: string, ref: ImageRef): Promise<string | undefined> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (!challenge.toLowerCase().startsWith('bearer') || !params.realm) return undefined;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${ref.repository}:pull`);
    const res = await this.#o.fetch(url, { signal: AbortSignal.timeout(this.#o.timeoutMs) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { token?: string; access_token?: string };
    return body.token ?? body.access_token;
  }
}

function dedupe(ps: Platform[]): Platform[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = `${p.os}/${p.arch}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
