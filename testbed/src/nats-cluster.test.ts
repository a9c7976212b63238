import { describe, expect, it } from 'vitest';
import { natsNodeConfig } from './nats-cluster.ts';

describe('natsNodeConfig', () => {
  const config = natsNodeConfig(
    { name: 'n1', port: 4001, clusterPort: 6001, monitorPort: 8001 },
    '/data/n1/jetstream',
    'ls-test',
    [6000, 6001, 6002],
  );

  it('gives the node its own name, ports and store', () => {
    expect(config).toContain('server_name: "n1"');
    expect(config).toContain('listen: "127.0.0.1:4001"');
    expect(config).toContain('http: "127.0.0.1:8001"');
    expect(config).toContain('jetstream { store_dir: "/data/n1/jetstream" }');
  });

  it('lists every route, its own included, in one named cluster', () => {
    const cluster = config.slice(config.indexOf('cluster {'));
    expect(cluster).toContain('name: "ls-test"');
    expect(cluster).toContain('listen: "127.0.0.1:6001"');
    expect(cluster.match(/nats-route:\/\/127\.0\.0\.1:\d+/g)).toEqual([
      'nats-route://127.0.0.1:6000',
      'nats-route://127.0.0.1:6001',
      'nats-route://127.0.0.1:6002',
    ]);
  });
});
