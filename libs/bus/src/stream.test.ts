import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { streamConfig } from './stream.ts';

describe('streamConfig', () => {
  it('keeps every subject of the prefix for a day, deduplicating for two minutes', () => {
    expect(streamConfig('ls-dev')).toEqual({
      name: 'LS_DEV_EVENTS',
      subjects: ['ls-dev.>'],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 86_400_000_000_000,
      duplicate_window: 120_000_000_000,
      max_msgs: -1,
    });
  });

  it('leaves the replica count to the server unless one is given', () => {
    expect(streamConfig('t')).not.toHaveProperty('num_replicas');
    expect(streamConfig('t', { replicas: 3 })).toMatchObject({ num_replicas: 3 });
  });

  it('takes overrides in milliseconds', () => {
    const c = streamConfig('t', { maxAgeMs: 60_000, duplicateWindowMs: 1_000, maxMsgs: 5, replicas: 3 });
    expect(c).toMatchObject({
      max_age: 60_000_000_000,
      duplicate_window: 1_000_000_000,
      max_msgs: 5,
      num_replicas: 3,
    });
  });
});
