// The bundled NATS as a cluster (nats.cluster.enabled): what the chart renders (three
// servers, a headless Service for their names, a budget that keeps a majority up, every
// server's URL for the services and bus.replicas 3 in their config), and the rendered
// nats.conf run by the real nats-server (Debian's 2.9) as three servers on loopback: they
// form one JetStream cluster, keep a three-copy stream through the loss of its leader, and
// a Longshore lease on it holds.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Lease, openLease } from '@longshore/bus';
import { natsServers } from '@longshore/config';
import { freePort, stopChild, waitFor } from '@longshore/testbed/testing';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { find, loadRendered, type Manifest, podTemplate, template, templateRaw } from './chart-render.ts';

const CLUSTERED = { values: { nats: { cluster: { enabled: true } } } };
const dir = mkdtempSync(join(tmpdir(), 'longshore-nats-cluster-'));
const servers = new Map<string, ChildProcess>();
const conns: NatsConnection[] = [];
const leases: Lease[] = [];

afterAll(async () => {
  await Promise.allSettled(leases.map((l) => l.close()));
  await Promise.allSettled(conns.map((c) => c.close()));
  await Promise.allSettled([...servers.values()].map((c) => stopChild(c, 5_000)));
  rmSync(dir, { recursive: true, force: true });
});

function natsConf(objects: readonly Manifest[]): string {
  const text = (find(objects, 'ConfigMap', 'ls-nats-config').data as Record<string, string>)['nats.conf'];
  if (!text) throw new Error('no nats.conf rendered');
  return text;
}

describe('the bundled NATS as a cluster', () => {
  it('is off by default: one server, one URL, bus.replicas left to the config (1)', async () => {
    const objects = await template();
    const sts = find(objects, 'StatefulSet', 'ls-nats');
    expect((sts.spec as { replicas: number }).replicas).toBe(1);
    expect(objects.some((o) => o.metadata.name === 'ls-nats-headless')).toBe(false);
    const env = podTemplate(find(objects, 'Deployment', 'ls-longshore-claimer')).spec.containers[0]?.env;
    expect(env).toContainEqual({ name: 'NATS_URL', value: 'nats://ls-nats.longshore.svc:4222' });
    expect((await loadRendered(objects)).bus.replicas).toBe(1);
  });

  it('renders three servers with their own names and stores, routes to all three, a budget, the URL list and bus.replicas 3', async () => {
    const objects = await template(CLUSTERED);
    const sts = find(objects, 'StatefulSet', 'ls-nats');
    expect(sts.spec).toMatchObject({
      replicas: 3,
      serviceName: 'ls-nats-headless',
      podManagementPolicy: 'Parallel',
    });
    const pod = podTemplate(sts);
    const c = pod.spec.containers[0] as { args?: string[]; env?: unknown[] };
    expect(c.args).toEqual(['-c', '/etc/nats/nats.conf']);
    expect(c.env).toEqual([{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
    expect(find(objects, 'Service', 'ls-nats-headless').spec).toMatchObject({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
    });
    expect(find(objects, 'PodDisruptionBudget', 'ls-nats').spec).toMatchObject({ maxUnavailable: 1 });
    const conf = natsConf(objects);
    expect(conf).toContain('server_name: $POD_NAME');
    expect(conf).toContain('store_dir: /data');
    for (const i of [0, 1, 2])
      expect(conf).toContain(`nats://ls-nats-${i}.ls-nats-headless.longshore.svc:6222`);

    const cfg = await loadRendered(objects);
    expect(cfg.bus.replicas).toBe(3);
    const env = podTemplate(find(objects, 'Deployment', 'ls-longshore-scheduler')).spec.containers[0]?.env;
    const url = env?.find((e) => e.name === 'NATS_URL')?.value ?? '';
    expect(natsServers(url)).toEqual(
      [0, 1, 2].map((i) => `nats://ls-nats-${i}.ls-nats-headless.longshore.svc:4222`),
    );
  });

  it('refuses a cluster of 2 or 4 servers, and takes bus.replicas as given', async () => {
    const four = await templateRaw({ values: { nats: { cluster: { enabled: true, replicas: 4 } } } });
    expect(four.code).not.toBe(0);
    expect(four.stderr).toContain("at '/nats/cluster/replicas'");
    const own = await template({
      values: { nats: { enabled: false, url: 'nats://a:4222,nats://b:4222' }, bus: { replicas: 3 } },
    });
    expect((await loadRendered(own)).bus.replicas).toBe(3);
  });

  it("runs: the rendered nats.conf forms a JetStream cluster on nats-server 2.9 that keeps a three-copy stream through its leader's loss", async () => {
    const objects = await template(CLUSTERED);
    const conf = natsConf(objects);
    const replicas = (await loadRendered(objects)).bus.replicas;
    // The rendered file with only what Kubernetes provides replaced: loopback ports for the
    // pods' addresses, and a directory for each pod's volume.
    const nodes = await Promise.all(
      [0, 1, 2].map(async (i) => ({
        name: `ls-nats-${i}`,
        client: await freePort(),
        route: await freePort(),
        monitor: await freePort(),
      })),
    );
    for (const [i, n] of nodes.entries()) {
      let local = conf
        .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${n.client}`)
        .replace('http: 0.0.0.0:8222', `http: 127.0.0.1:${n.monitor}`)
        .replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${n.route}`)
        .replace('store_dir: /data', `store_dir: ${join(dir, n.name)}`);
      for (const other of nodes)
        local = local.replace(
          `nats://${other.name}.ls-nats-headless.longshore.svc:6222`,
          `nats://127.0.0.1:${other.route}`,
        );
      expect(local).not.toContain('svc');
      const file = join(dir, `nats-${i}.conf`);
      writeFileSync(file, local);
      const child = spawn('nats-server', ['-c', file], {
        stdio: 'ignore',
        env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin`, POD_NAME: n.name },
      });
      servers.set(n.name, child);
    }
    const urls = nodes.map((n) => `nats://127.0.0.1:${n.client}`);
    const nc = await connect({ servers: urls, maxReconnectAttempts: -1, waitOnFirstConnect: true });
    conns.push(nc);
    // No API check at once: JetStream answers only once the servers have elected a meta leader.
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    // The cluster is up once JetStream has a meta leader and takes a three-copy stream.
    await waitFor(
      'a three-copy stream on the cluster',
      async () => {
        await jsm.streams.add({
          name: 'CLUSTER_CHECK',
          subjects: ['check.>'],
          num_replicas: replicas,
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
        });
        return true;
      },
      { timeoutMs: 60_000 },
    );
    const js = jsm.jetstream();
    await js.publish('check.one', 'before');
    const info = await jsm.streams.info('CLUSTER_CHECK');
    expect(info.cluster?.replicas?.length).toBe(2);
    const leader = info.cluster?.leader ?? '';
    expect(nodes.map((n) => n.name)).toContain(leader);

    // A Longshore lease on the same cluster, its bucket with the same copies.
    const lease = await openLease({
      servers: urls,
      prefix: 'chk',
      name: 'cluster',
      holder: 'test',
      replicas,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    leases.push(lease);
    await waitFor('the lease to be taken', async () => lease.held(), { timeoutMs: 30_000 });

    // The stream's leader dies without a word: another takes over, nothing is lost.
    const dying = servers.get(leader);
    if (!dying) throw new Error(`no server named ${leader}`);
    dying.kill('SIGKILL');
    await waitFor(
      'a publish after the leader died',
      async () => {
        await js.publish('check.two', 'after', { timeout: 2_000 });
        return true;
      },
      { timeoutMs: 60_000 },
    );
    const after = await jsm.streams.info('CLUSTER_CHECK');
    expect(after.state.messages).toBe(2);
    expect(after.cluster?.leader).not.toBe(leader);
    // The lease is held on the two servers left (kept, or taken again once its bucket has a leader).
    await waitFor('the lease held on two servers', async () => lease.held(), { timeoutMs: 60_000 });
  });
});
