import { createLogger } from '@longshore/logging';
import { describe, expect, it } from 'vitest';
import { ClassGates } from './class-gates.ts';

const logger = createLogger({ name: 'test', level: 'silent' });

describe('ClassGates', () => {
  it('holds a class back while any source says so, and names every reason', () => {
    const g = new ClassGates(logger);
    expect(g.why('a/b')).toBeUndefined();
    g.set('a/b', 'pod-check', 'pod check: waiting');
    g.set('a/b', 'constraints', 'constraint checker: no node');
    expect(g.why('a/b')).toBe('pod check: waiting; constraint checker: no node');
    g.set('a/b', 'pod-check', undefined);
    expect(g.why('a/b')).toBe('constraint checker: no node');
    g.set('a/b', 'constraints', undefined);
    expect(g.why('a/b')).toBeUndefined();
    expect(g.why('other/class')).toBeUndefined();
  });

  it('wakes a waiting claim loop on a change, not only after its wait', async () => {
    const g = new ClassGates(logger);
    g.set('a/b', 'pod-check', 'pod check: waiting');
    const waited = g.changed(60_000, new AbortController().signal);
    g.set('a/b', 'pod-check', undefined);
    await expect(waited).resolves.toBeUndefined();
  });
});
