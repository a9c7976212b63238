import { describe, expect, it } from 'vitest';
import { findSecretKeys, isSecretKey } from './secrets.ts';

describe('isSecretKey', () => {
  it.each([
    'token',
    'task_token',
    'circle_token',
    'Circle-Token',
    'taskToken',
    'authorization',
    'password',
    'api_key',
  ])('flags %s', (k) => {
    expect(isSecretKey(k)).toBe(true);
  });
  it.each(['task_id', 'secrets_deleted', 'allocation', 'reason', 'tokenizer', 'at'])('allows %s', (k) => {
    expect(isSecretKey(k)).toBe(false);
  });
});

describe('findSecretKeys', () => {
  it('finds keys at any depth, in objects and arrays, by path only', () => {
    const paths = findSecretKeys({
      task_id: 't1',
      env: [{ name: 'X' }, { name: 'Y', password: 'hunter2' }],
      nested: { deeper: { task_token: 'abc' } },
    });
    expect(paths).toEqual(['env[1].password', 'nested.deeper.task_token']);
  });

  it('returns nothing for clean payloads and scalars', () => {
    expect(findSecretKeys({ a: 1, b: [1, 'two', null] })).toEqual([]);
    expect(findSecretKeys('token')).toEqual([]);
    expect(findSecretKeys(null)).toEqual([]);
  });
});
