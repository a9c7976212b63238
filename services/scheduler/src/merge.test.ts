import { describe, expect, it } from 'vitest';
import { recordListAt, stringMapAt, TaskPodError, upsertByName } from './merge.ts';

describe('TaskPodError', () => {
  it('names the config key as written in the file, or none', () => {
    const e = new TaskPodError(
      ['agent', 'resourceClasses', 'org/rc', 'spec', 'volumes', 2, 'name'],
      'clash',
      {
        cause: 'x',
      },
    );
    expect(e.message).toBe(
      'cannot build the task pod: agent.resourceClasses["org/rc"].spec.volumes[2].name: clash',
    );
    expect(e).toMatchObject({ name: 'TaskPodError', reason: 'clash', cause: 'x' });
    expect(new TaskPodError([], 'no containers').message).toBe('cannot build the task pod: no containers');
  });
});

describe('shape checks', () => {
  it('reads absent fields as empty and rejects wrong shapes with their path', () => {
    expect(recordListAt({}, 'env', ['c'])).toEqual([]);
    expect(() => recordListAt({ env: 'A=1' }, 'env', ['c'])).toThrow('c.env: must be a list');
    expect(stringMapAt({ labels: { a: 'b' } }, 'labels', ['m'])).toEqual({ a: 'b' });
    expect(() => stringMapAt({ labels: { on: true } }, 'labels', ['m'])).toThrow(
      'm.labels.on: must be a string',
    );
  });
});

describe('upsertByName', () => {
  it('replaces the entry of the same name in place, or appends', () => {
    const env = [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ];
    expect(upsertByName(env, { name: 'A', value: 'x' })).toEqual([
      { name: 'A', value: 'x' },
      { name: 'B', value: '2' },
    ]);
    expect(upsertByName(env, { name: 'C', value: '3' })).toHaveLength(3);
    expect(env[0]?.value).toBe('1');
  });
});
