// Validated KV buckets for latest-value status (e.g. constraint status per resource class).
import { ConstraintStatus } from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { BusSecretError, BusValidationError, type KvChange } from '../src/index.ts';
import { TestWorld } from './support.ts';

let world: TestWorld;
beforeEach(() => {
  world = new TestWorld();
});
afterEach(async () => {
  await world.teardown();
});

const status = (rc: string, enabled: boolean): ConstraintStatus => ({
  resource_class: rc,
  at: new Date().toISOString(),
  enabled,
  consecutive_failures: enabled ? 0 : 3,
  reason: enabled ? '' : 'no node matches the selector',
});

it('puts, gets, watches and deletes validated values', async () => {
  const bus = await world.bus();
  const kv = await bus.kv('constraints', ConstraintStatus);
  world.bucket(kv.bucket);
  expect(kv.bucket).toBe(`${world.prefix}_constraints`);

  await kv.put('org/small', status('org/small', true));
  expect((await kv.get('org/small'))?.value).toMatchObject({ resource_class: 'org/small', enabled: true });
  expect(await kv.get('org/missing')).toBeUndefined();
  await expect(
    kv.put('org/small', { ...status('org/small', true), consecutive_failures: -1 }),
  ).rejects.toThrow(BusValidationError);
  await expect(
    kv.put('org/small', { ...status('org/small', true), password: 'x' } as ConstraintStatus),
  ).rejects.toThrow(BusSecretError);

  const stop = new AbortController();
  const seen: Array<KvChange<ConstraintStatus>> = [];
  const watching = (async () => {
    for await (const c of kv.watch({ signal: stop.signal })) seen.push(c);
  })();
  await eventually(
    () => expect(seen.map((c) => [c.key, c.value?.enabled])).toEqual([['org/small', true]]),
    10_000,
  );
  await kv.put('org/large', status('org/large', false));
  await kv.delete('org/small');
  await eventually(
    () =>
      expect(seen.map((c) => [c.key, c.value?.enabled])).toEqual([
        ['org/small', true],
        ['org/large', false],
        ['org/small', undefined],
      ]),
    10_000,
  );
  stop.abort();
  await watching;
  expect(await kv.get('org/small')).toBeUndefined();
});
