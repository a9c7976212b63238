import { describe, expect, it } from 'vitest';
import { natsServers } from './values.ts';

describe('natsServers', () => {
  it('splits a comma-separated NATS_URL into servers, as nats.js needs them (it reads one string as one server)', () => {
    expect(natsServers('nats://a:4222, tls://b:4443 ,c:4222')).toEqual([
      'nats://a:4222',
      'tls://b:4443',
      'c:4222',
    ]);
    expect(natsServers('nats://a:4222')).toEqual(['nats://a:4222']);
  });
});
