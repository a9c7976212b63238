import { describe, expect, it } from 'vitest';
import {
  isImageReference,
  MAX_IMAGE_NAME_LENGTH,
  MAX_IMAGE_REFERENCE_LENGTH,
  parseImageReference,
  resolveImageReference,
} from './image-ref.ts';

const SHA256 = 'a'.repeat(64);

function reasonOf(text: string): string {
  const parsed = parseImageReference(text);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} to be refused`);
  return parsed.reason;
}

describe('parseImageReference: accepts what runtimes pull', () => {
  it.each([
    ['postgres', { domain: undefined, path: 'postgres', tag: undefined, digest: undefined }],
    ['cimg/base:current', { domain: undefined, path: 'cimg/base', tag: 'current', digest: undefined }],
    ['cimg/postgres:16.1', { domain: undefined, path: 'cimg/postgres', tag: '16.1', digest: undefined }],
    [
      'quay.io/containerdisks/ubuntu:22.04',
      { domain: 'quay.io', path: 'containerdisks/ubuntu', tag: '22.04', digest: undefined },
    ],
    ['localhost:5000/app', { domain: 'localhost:5000', path: 'app', tag: undefined, digest: undefined }],
    ['localhost/app:v_1', { domain: 'localhost', path: 'app', tag: 'v_1', digest: undefined }],
    ['[::1]:5000/a/b:t', { domain: '[::1]:5000', path: 'a/b', tag: 't', digest: undefined }],
    [
      'Registry.Example.com/a',
      { domain: 'Registry.Example.com', path: 'a', tag: undefined, digest: undefined },
    ],
    [
      'my-org/my__img.v-2',
      { domain: undefined, path: 'my-org/my__img.v-2', tag: undefined, digest: undefined },
    ],
    [
      `ubuntu:24.04@sha256:${SHA256}`,
      { domain: undefined, path: 'ubuntu', tag: '24.04', digest: `sha256:${SHA256}` },
    ],
    [
      `ubuntu@sha512:${'0'.repeat(128)}`,
      { domain: undefined, path: 'ubuntu', tag: undefined, digest: `sha512:${'0'.repeat(128)}` },
    ],
    // A bare registry-looking name with a colon is name:tag, as Docker reads it.
    ['localhost:5000', { domain: undefined, path: 'localhost', tag: '5000', digest: undefined }],
  ])('%s', (text, ref) => {
    expect(parseImageReference(text)).toEqual({ ok: true, ref });
  });

  it('accepts a tag of 128 characters and a name of the maximum length', () => {
    expect(isImageReference(`a:${'t'.repeat(128)}`)).toBe(true);
    expect(isImageReference(`a/${'b'.repeat(MAX_IMAGE_NAME_LENGTH - 2)}`)).toBe(true);
  });
});

describe('parseImageReference: refuses with a reason that does not quote the input', () => {
  it.each([
    ['', 'is empty'],
    ['NOT AN IMAGE', 'whitespace'],
    ['a\nb', 'whitespace'],
    ['imäge', 'non-ASCII'],
    ['Ubuntu', 'not lowercase'],
    ['cimg/Base', 'not lowercase'],
    ['a//b', 'empty path component'],
    ['/a', 'empty path component'],
    ['a/', 'empty path component'],
    ['a/-b', 'invalid repository path'],
    ['a/b_', 'invalid repository path'],
    ['a/b___c', 'invalid repository path'],
    ['ex_ample.com/a', 'invalid registry host'],
    ['-bad.example.com/a', 'invalid registry host'],
    ['a:', 'invalid tag'],
    ['a:.x', 'invalid tag'],
    [`a:${'t'.repeat(129)}`, 'invalid tag'],
    [':tag', 'no repository name'],
    ['a@sha256', 'not <algorithm>:<hex>'],
    ['a@:abc', 'not <algorithm>:<hex>'],
    [`a@md5:${'a'.repeat(32)}`, 'other than sha256'],
    ['a@sha256:abc', '64 lowercase hex'],
    [`a@sha256:${'A'.repeat(64)}`, '64 lowercase hex'],
    [`a@sha256:${SHA256}@sha256:${SHA256}`, '64 lowercase hex'],
    [`a/${'b'.repeat(MAX_IMAGE_NAME_LENGTH)}`, `longer than ${MAX_IMAGE_NAME_LENGTH}`],
    ['a'.repeat(MAX_IMAGE_REFERENCE_LENGTH + 1), `longer than ${MAX_IMAGE_REFERENCE_LENGTH}`],
  ])('%j: %s', (text, reason) => {
    const why = reasonOf(text);
    expect(why).toContain(reason);
    if (text.length > 3) expect(why).not.toContain(text);
  });

  it('takes linear time on long hostile input (no catastrophic backtracking)', () => {
    // Would hang for minutes with a backtracking-prone pattern; bounded length keeps it quick.
    expect(isImageReference(`${'a-'.repeat(120)}!/x`)).toBe(false);
    expect(isImageReference(`${'a.'.repeat(120)}a-/x`)).toBe(false);
  });
});

describe('resolveImageReference', () => {
  const resolve = (text: string) => {
    const parsed = parseImageReference(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return resolveImageReference(parsed.ref);
  };

  it('fills in Docker Hub, library/ and latest', () => {
    expect(resolve('postgres')).toEqual({
      registry: 'docker.io',
      repository: 'library/postgres',
      reference: 'latest',
    });
    expect(resolve('cimg/base:current')).toEqual({
      registry: 'docker.io',
      repository: 'cimg/base',
      reference: 'current',
    });
    expect(resolve('index.docker.io/redis:7')).toEqual({
      registry: 'docker.io',
      repository: 'library/redis',
      reference: '7',
    });
  });

  it('keeps another registry as written and prefers the digest to the tag', () => {
    expect(resolve(`ghcr.io/acme/app:1@sha256:${SHA256}`)).toEqual({
      registry: 'ghcr.io',
      repository: 'acme/app',
      reference: `sha256:${SHA256}`,
    });
    expect(resolve('localhost:5000/app')).toEqual({
      registry: 'localhost:5000',
      repository: 'app',
      reference: 'latest',
    });
  });
});
