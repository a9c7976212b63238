import { describe, expect, it } from 'vitest';
import { resolveTokens, TokenConfigError } from './tokens.ts';

describe('resolveTokens', () => {
  it('takes tokens from the classes, else from the custom Secret by dotted key', async () => {
    const tokens = await resolveTokens(
      { 'ns/a': { token: 'tok-a' }, 'ns/b': {} },
      'runner-tokens',
      async (name) => (name === 'runner-tokens' ? { 'ns.b': 'tok-b' } : undefined),
    );
    expect(tokens).toEqual({ 'ns/a': 'tok-a', 'ns/b': 'tok-b' });
  });
  it('names every class without a token, never a token', async () => {
    const err = await resolveTokens(
      { 'ns/a': {}, 'ns/b': { token: 'secret-b' } },
      undefined,
      async () => undefined,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenConfigError);
    expect(String(err)).toContain('ns/a');
    expect(String(err)).not.toContain('secret-b');
  });
  it('reports a missing custom Secret', async () => {
    await expect(resolveTokens({ 'ns/a': {} }, 'nope', async () => undefined)).rejects.toThrow(
      /Secret "nope" not found/,
    );
  });
  it('trims a token from the Secret, and refuses one with other whitespace, never quoting it', async () => {
    const read = async () => ({ 'ns.a': 'tok-a\n', 'ns.b': 'tok b-secret' });
    expect(await resolveTokens({ 'ns/a': {} }, 's', read)).toEqual({ 'ns/a': 'tok-a' });
    const err = await resolveTokens({ 'ns/a': {}, 'ns/b': {} }, 's', read).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenConfigError);
    expect(String(err)).toContain('key ns.b');
    expect(String(err)).not.toContain('b-secret');
  });
});
