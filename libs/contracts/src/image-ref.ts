// Container image references, checked by the grammar container runtimes parse them with
// (github.com/distribution/reference, as containerd and the kubelet use it):
//
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path-component ["/" path-component]*    (at most 255 chars)
//   domain    := host [":" port]      host: DNS name, or [IPv6] in brackets
//   path-component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*              lowercase only
//   tag       := [\w][\w.-]{0,127}
//   digest    := algorithm ":" hex    (sha256, sha384 or sha512, lowercase hex of its length)
//
// The Kubernetes apiserver only refuses whitespace in `image`, so without this check a
// task config with an image no runtime can pull would become a pod that waits to fail.
// Reasons never quote the reference: callers put them into errors next to other input.

/** distribution/reference's NameTotalLengthMax. */
export const MAX_IMAGE_NAME_LENGTH = 255;
/**
 * Longest reference accepted at all: a full name, a 128-char tag and a sha512 digest
 * (255 + 1 + 128 + 1 + 7 + 128 = 520), rounded up. Checked before any parsing.
 */
export const MAX_IMAGE_REFERENCE_LENGTH = 1024;

/** A parsed reference, as written (no defaults filled in; see resolveImageReference). */
export interface ImageReference {
  /** Registry host[:port]; undefined when the name has none (Docker Hub). */
  domain: string | undefined;
  /** Repository path, e.g. `cimg/base` or `postgres`. */
  path: string;
  tag: string | undefined;
  digest: string | undefined;
}

export type ImageReferenceParse = { ok: true; ref: ImageReference } | { ok: false; reason: string };

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_ALGORITHM = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*$/;
/** go-digest's available algorithms and the hex length of each. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

const fail = (reason: string): ImageReferenceParse => ({ ok: false, reason });

/** Parses `text` as an image reference, or says (without quoting it) what is wrong. */
export function parseImageReference(text: string): ImageReferenceParse {
  if (text.length === 0) return fail('is empty');
  if (text.length > MAX_IMAGE_REFERENCE_LENGTH) {
    return fail(`is longer than ${MAX_IMAGE_REFERENCE_LENGTH} characters`);
  }
  if (!/^[\x21-\x7e]+$/.test(text)) {
    return fail('contains whitespace, control or non-ASCII characters');
  }

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const why = digestProblem(digest);
    if (why !== undefined) return fail(why);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  // A colon before the last slash is a registry port, not a tag.
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      return fail('has an invalid tag (1 to 128 of letters, digits, _ . -, not starting with . or -)');
    }
  }
  if (rest.length === 0) return fail('has no repository name');
  if (rest.length > MAX_IMAGE_NAME_LENGTH) {
    return fail(`has a name longer than ${MAX_IMAGE_NAME_LENGTH} characters`);
  }

  const components = rest.split('/');
  let domain: string | undefined;
  if (components.length > 1 && isDomain(components[0]!)) {
    domain = components.shift();
    if (!DOMAIN.test(domain!)) return fail('has an invalid registry host or port');
  }
  for (const component of components) {
    if (component === '') return fail('has an empty path component');
    if (!PATH_COMPONENT.test(component)) {
      return PATH_COMPONENT.test(component.toLowerCase())
        ? fail('has a repository path that is not lowercase')
        : fail('has an invalid repository path (lowercase letters and digits, separated by . _ __ or -)');
    }
  }
  return { ok: true, ref: { domain, path: components.join('/'), tag, digest } };
}

/** True when `text` is a reference a container runtime can parse. */
export function isImageReference(text: string): boolean {
  return parseImageReference(text).ok;
}

/**
 * The first component names a registry when it looks like a host (a dot, a port, or
 * `localhost`) or has capitals, which a repository path cannot: Docker's own rule.
 */
function isDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(':');
  const algorithm = colon >= 0 ? digest.slice(0, colon) : '';
  const hex = colon >= 0 ? digest.slice(colon + 1) : '';
  if (!DIGEST_ALGORITHM.test(algorithm) || hex === '') return 'has a digest that is not <algorithm>:<hex>';
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) return 'has a digest algorithm other than sha256, sha384 or sha512';
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    return `has a ${algorithm} digest that is not ${length} lowercase hex digits`;
  }
  return undefined;
}

/** Where a runtime pulls a reference from: the defaults a bare Docker Hub name implies. */
export interface ResolvedImageReference {
  /** `docker.io` when the reference names no registry. */
  registry: string;
  /** With `library/` before a one-component Docker Hub path, as the registry API wants it. */
  repository: string;
  /** The digest when there is one (it wins over a tag), else the tag, else `latest`. */
  reference: string;
}

export function resolveImageReference(ref: ImageReference): ResolvedImageReference {
  const registry = ref.domain === undefined || ref.domain === 'index.docker.io' ? 'docker.io' : ref.domain;
  const repository = registry === 'docker.io' && !ref.path.includes('/') ? `library/${ref.path}` : ref.path;
  return { registry, repository, reference: ref.digest ?? ref.tag ?? 'latest' };
}
