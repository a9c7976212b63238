// autodetectPlatform: which OS/architecture pairs a task's primary image can run on, read
// from its registry the way a container runtime would (the OCI distribution API), so its
// pod is only placed on nodes that can run it. Unknown (registry unreachable, private
// image without credentials) means no constraint: the pod goes where the class's own spec
// sends it, as with autodetect off.
//
// Registry answers are hostile until parsed: each is read up to a size cap within a
// timeout that covers its body, and must have the documented shape; anything else makes
// that image's platforms unknown (ImageLookupError, given to onLookup), never a crash.
// The only secret here is the anonymous bearer token a registry hands out: it goes in a
// header and is never part of an error (errors are built from statuses and sizes; answers
// are never quoted).
import { HttpBodyTooLargeError, networkReason, readBody } from '@longshore/runner-api';
import { z } from 'zod';
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

/**
 * Manifests, indexes and image configs are small JSON documents: OCI's guidance is that
 * registries accept manifests up to 4 MiB, so no image a runtime can pull has a larger
 * one, and an image config (os, architecture, history, layer digests) is smaller still.
 */
const DEFAULT_MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** OCI's digest grammar (`sha256:…`): it becomes part of a URL path. */
const Digest = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'not a digest');

/** An image index (manifests) or an image manifest (config); other fields are not read. */
const ManifestAnswer = z.object({
  manifests: z
    .array(
      z.object({
        platform: z.object({ os: z.string().optional(), architecture: z.string().optional() }).optional(),
      }),
    )
    .optional(),
  config: z.object({ digest: Digest }).optional(),
});

const ImageConfigAnswer = z.object({ os: z.string().optional(), architecture: z.string().optional() });

/** Visible ASCII: the token goes into an Authorization header, and fetch quotes a bad value in its error. */
const BearerToken = z.string().regex(/^[\x21-\x7e]+$/, 'not a header-safe token');
const TokenAnswer = z.object({ token: BearerToken.optional(), access_token: BearerToken.optional() });

/** What a platform must look like to become a node affinity value: a Kubernetes label value. */
const LABEL_VALUE = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export type LookupOutcome = 'hit' | 'resolved' | 'unknown';

/** Why an image's platforms are unknown: the registry's answer was missing, refused or unusable. */
export class ImageLookupError extends Error {
  override name = 'ImageLookupError';
}

export interface RegistryImagePlatformsOptions {
  /** Limit for each registry request, answer body included. Default 5 s. */
  timeoutMs?: number;
  /** Largest answer body read (manifest, index, image config, token). Default 4 MiB. */
  maxAnswerBytes?: number;
  /** How long an answer is kept; failures are kept for failureTtlMs. */
  ttlMs?: number;
  failureTtlMs?: number;
  fetch?: typeof fetch;
  /** Each lookup's outcome; `failure` says why an `unknown` one failed (absent when the image lists no platform). */
  onLookup?: (outcome: LookupOutcome, failure?: ImageLookupError) => void;
}

/** One lookup's requests: what they are for and the token the registry gave them. */
interface Lookup {
  image: string;
  ref: ImageRef;
  token?: string;
}

export class RegistryImagePlatforms implements ImagePlatforms {
  readonly #cache = new Map<string, { until: number; value: Promise<Platform[] | undefined> }>();
  readonly #o: Required<Omit<RegistryImagePlatformsOptions, 'onLookup'>> &
    Pick<RegistryImagePlatformsOptions, 'onLookup'>;

  constructor(o: RegistryImagePlatformsOptions = {}) {
    this.#o = {
      timeoutMs: o.timeoutMs ?? 5_000,
      maxAnswerBytes: o.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
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
    let failure: ImageLookupError | undefined;
    const value = this.#lookup(image).catch((err: unknown) => {
      failure =
        err instanceof ImageLookupError
          ? err
          : new ImageLookupError(`${image}: platform lookup failed`, { cause: err });
      return undefined;
    });
    const entry = { until: now + this.#o.ttlMs, value };
    this.#cache.set(image, entry);
    void value.then((v) => {
      if (v) {
        this.#o.onLookup?.('resolved');
        return;
      }
      this.#o.onLookup?.('unknown', failure);
      entry.until = Date.now() + this.#o.failureTtlMs;
    });
    return value;
  }

  async #lookup(image: string): Promise<Platform[] | undefined> {
    const ref = parseImageRef(image);
    const lookup: Lookup = { image, ref };
    // Like container runtimes, a registry on this host is spoken to over plain HTTP.
    const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry;
    const local = /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(host);
    const base = `${local ? 'http' : 'https'}://${host}/v2/${ref.repository}`;
    const manifest = await this.#get(
      lookup,
      'manifest',
      `${base}/manifests/${ref.reference}`,
      ManifestAnswer,
    );
    if (manifest.manifests) {
      return nodePlatforms(
        manifest.manifests.map((m) => ({ os: m.platform?.os ?? '', arch: m.platform?.architecture ?? '' })),
      );
    }
    if (manifest.config) {
      const cfg = await this.#get(
        lookup,
        'image config',
        `${base}/blobs/${manifest.config.digest}`,
        ImageConfigAnswer,
      );
      return nodePlatforms([{ os: cfg.os ?? '', arch: cfg.architecture ?? '' }]);
    }
    return undefined;
  }

  /** A registry document, parsed; after a 401, once more with an anonymous token (kept for the lookup's next request). */
  async #get<S extends z.ZodType>(
    lookup: Lookup,
    what: string,
    url: string,
    schema: S,
  ): Promise<z.output<S>> {
    const token = lookup.token;
    const answer = await this.#send(lookup, what, url, {
      accept: MANIFEST_TYPES,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    });
    if (answer.status === 401 && !token) {
      // Public images still need an anonymous bearer token from the realm the registry names.
      lookup.token = await this.#anonymousToken(lookup, answer.headers.get('www-authenticate') ?? '');
      if (lookup.token) return this.#get(lookup, what, url, schema);
    }
    if (answer.status < 200 || answer.status > 299) {
      throw new ImageLookupError(`${lookup.image}: ${what}: registry answered HTTP ${answer.status}`);
    }
    return parseAnswer(lookup.image, what, answer, schema);
  }

  async #anonymousToken(lookup: Lookup, challenge: string): Promise<string | undefined> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (!challenge.toLowerCase().startsWith('bearer') || !params.realm) return undefined;
    const url = URL.parse(params.realm);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new ImageLookupError(`${lookup.image}: the registry's token realm is not an http(s) URL`);
    }
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${lookup.ref.repository}:pull`);
    const answer = await this.#send(lookup, 'token', url.href, {});
    if (answer.status < 200 || answer.status > 299) return undefined;
    // No cause on a parse failure here: JSON.parse's message would quote the token.
    const body = parseAnswer(lookup.image, 'token', answer, TokenAnswer, { withCause: false });
    return body.token ?? body.access_token;
  }

  /** One request and its body, read up to the size cap within the timeout. */
  async #send(
    lookup: Lookup,
    what: string,
    url: string,
    headers: Record<string, string>,
  ): Promise<RegistryAnswer> {
    const signal = AbortSignal.timeout(this.#o.timeoutMs);
    try {
      const res = await this.#o.fetch(url, { headers, signal });
      return {
        status: res.status,
        headers: res.headers,
        text: await readBody(res, this.#o.maxAnswerBytes),
      };
    } catch (err) {
      const at = `${lookup.image}: ${what}`;
      if (err instanceof HttpBodyTooLargeError)
        throw new ImageLookupError(`${at}: answer ${err.message}`, { cause: err });
      if (signal.aborted)
        throw new ImageLookupError(`${at}: no answer within ${this.#o.timeoutMs} ms`, { cause: err });
      throw new ImageLookupError(`${at}: no answer (${networkReason(err)})`, { cause: err });
    }
  }
}

interface RegistryAnswer {
  status: number;
  headers: { get(name: string): string | null };
  text: string;
}

function parseAnswer<S extends z.ZodType>(
  image: string,
  what: string,
  answer: RegistryAnswer,
  schema: S,
  { withCause = true } = {},
): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    // No cause: JSON.parse's message quotes the body.
    const type = answer.headers.get('content-type') ?? 'no content-type';
    throw new ImageLookupError(
      `${image}: ${what}: answer is not JSON (${type}, ${answer.text.length} chars)`,
    );
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  // zod's issues carry paths and expectations, not the input values.
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  throw new ImageLookupError(
    `${image}: ${what}: answer is not the expected shape (${issues})`,
    withCause ? { cause: parsed.error } : undefined,
  );
}

/**
 * The platforms a node could match, without duplicates, or undefined when none is left:
 * OCI indexes list attestation manifests as unknown/unknown, and a value that is not a
 * label value can be on no node (and would make the pod invalid).
 */
export function nodePlatforms(listed: readonly Platform[]): Platform[] | undefined {
  const seen = new Set<string>();
  const out = listed.filter((p) => {
    if (p.os === 'unknown' || p.arch === 'unknown' || !LABEL_VALUE.test(p.os) || !LABEL_VALUE.test(p.arch)) {
      return false;
    }
    const k = `${p.os}/${p.arch}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return out.length > 0 ? out : undefined;
}
