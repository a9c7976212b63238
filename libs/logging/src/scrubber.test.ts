import { describe, expect, it } from 'vitest';
import { SecretScrubber } from './scrubber.ts';

describe('SecretScrubber', () => {
  it('returns text unchanged when nothing is registered', () => {
    expect(new SecretScrubber().scrub('nothing to see')).toBe('nothing to see');
  });

  it('replaces every occurrence of every registered secret', () => {
    const s = new SecretScrubber();
    s.add('alpha-secret');
    s.add('beta-secret');
    expect(s.scrub('alpha-secret and beta-secret, alpha-secret again')).toBe(
      '[redacted] and [redacted], [redacted] again',
    );
  });

  it('ignores secrets shorter than 6 characters', () => {
    const s = new SecretScrubber();
    expect(s.add('abc')).toBe(false);
    expect(s.size).toBe(0);
    expect(s.scrub('abc abcdef')).toBe('abc abcdef');
  });

  it('treats regular-expression characters literally', () => {
    const s = new SecretScrubber();
    s.add('a.b*c+d?');
    expect(s.scrub('axbbbcd a.b*c+d?')).toBe('axbbbcd [redacted]');
  });

  it('replaces the longer of two overlapping secrets whole', () => {
    const s = new SecretScrubber();
    s.add('secret');
    s.add('secret-longer');
    expect(s.scrub('secret-longer')).toBe('[redacted]');
  });

  it('finds a secret in its JSON-escaped form', () => {
    const s = new SecretScrubber();
    s.add('quo"te\\back');
    expect(s.scrub(JSON.stringify({ v: 'x quo"te\\back y' }))).toBe('{"v":"x [redacted] y"}');
  });

  it('keeps a secret until its last registration is removed', () => {
    const s = new SecretScrubber();
    s.add('shared-token');
    s.add('shared-token');
    s.delete('shared-token');
    expect(s.scrub('shared-token')).toBe('[redacted]');
    s.delete('shared-token');
    expect(s.has('shared-token')).toBe(false);
    expect(s.scrub('shared-token')).toBe('shared-token');
    s.delete('never-added');
  });

  it('scrubs every registered secret while the set changes between lines, as a claimer changes it', () => {
    const s = new SecretScrubber();
    const tokens = Array.from({ length: 150 }, (_, i) => `task-token-${i.toString(36).padStart(4, '0')}`);
    for (const t of tokens) s.add(t);
    for (const [i, t] of tokens.entries()) {
      const line = JSON.stringify({ msg: 'task claimed', token: t, next: tokens[i + 1] ?? 'none' });
      expect(s.scrub(line)).not.toMatch(/task-token-/);
      s.delete(t);
      // Gone from the registry: no longer scrubbed; the rest still are.
      expect(s.scrub(`${t} ${tokens.at(-1)}`)).toBe(
        i === tokens.length - 1 ? `${t} ${t}` : `${t} [redacted]`,
      );
    }
  });
});
