// A three-node NATS cluster with JetStream on loopback, for tests that take a NATS server
// away mid-run: streams and KV buckets with three replicas must lose nothing when one node
// dies. Each node has its own server_name, store directory and a cluster block that lists
// every node's route port (checked with Debian's nats-server 2.9.10, docs/testbed.md). The
// nodes are children of the test process; a killed node starts again with the same
// config and store, as a restarted pod would with its volume.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild, TestbedError } from './processes.ts';
import { waitFor } from './wait.ts';

export interface NatsNode {
  /** The node's `server_name`, as JetStream names stream leaders and peers. */
  readonly name: string;
  readonly port: number;
  /** Port of the route listener (cluster traffic). */
  readonly clusterPort: number;
  /** Port of the HTTP monitoring endpoint (/healthz, /jsz). */
  readonly monitorPort: number;
  readonly url: string;
  readonly configFile: string;
  readonly logFile: string;
}

export interface NatsClusterOptions {
  /** Nodes in the cluster. Default 3 (JetStream needs a majority of them up). */
  size?: number;
  /** Where configs, stores and logs go. Default: a new temporary directory, removed by stop(). */
  dir?: string;
}

/** Thrown when the cluster does not come up, or a node is asked for that is not there. */
export class NatsClusterError extends TestbedError {
  override name = 'NatsClusterError';
}

/** Server names, ports and route list of every node: the config each node is started with. */
export function natsNodeConfig(
  node: Pick<NatsNode, 'name' | 'port' | 'clusterPort' | 'monitorPort'>,
  storeDir: string,
  clusterName: string,
  routePorts: readonly number[],
): string {
  const routes = routePorts.map((p) => `    "nats-route://127.0.0.1:${p}"`).join('\n');
  return [
    `server_name: "${node.name}"`,
    `listen: "127.0.0.1:${node.port}"`,
    `http: "127.0.0.1:${node.monitorPort}"`,
    // The store must be a node's own: two servers sharing one would corrupt each other.
    `jetstream { store_dir: "${storeDir}" }`,
    'cluster {',
    `  name: "${clusterName}"`,
    `  listen: "127.0.0.1:${node.clusterPort}"`,
    // Every node lists every route, its own included (the server skips itself), so any node
    // restarted alone finds the others.
    '  routes: [',
    routes,
    '  ]',
    '}',
    '',
  ].join('\n');
}

export class NatsCluster {
  readonly nodes: readonly NatsNode[];
  readonly dir: string;
  readonly #ownDir: boolean;
  readonly #children = new Map<string, ChildProcess>();

  private constructor(nodes: readonly NatsNode[], dir: string, ownDir: boolean) {
    this.nodes = nodes;
    this.dir = dir;
    this.#ownDir = ownDir;
  }

  /** Starts every node on free loopback ports and waits until JetStream has a meta leader. */
  static async start(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = opts.size ?? 3;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'longshore-nats-cluster-'));
    const clusterName = `ls-${process.pid}-${Date.now().toString(36)}`;
    const ports: Array<Pick<NatsNode, 'port' | 'clusterPort' | 'monitorPort'>> = [];
    for (let i = 0; i < size; i++)
      ports.push({ port: await freePort(), clusterPort: await freePort(), monitorPort: await freePort() });
    const nodes = ports.map((p, i): NatsNode => {
      const name = `n${i}`;
      const store = join(dir, name, 'jetstream');
      mkdirSync(store, { recursive: true });
      const configFile = join(dir, name, 'nats.conf');
      writeFileSync(
        configFile,
        natsNodeConfig(
          { name, ...p },
          store,
          clusterName,
          ports.map((q) => q.clusterPort),
        ),
      );
      return {
        name,
        ...p,
        url: `nats://127.0.0.1:${p.port}`,
        configFile,
        logFile: join(dir, name, 'nats.log'),
      };
    });
    const cluster = new NatsCluster(nodes, dir, opts.dir === undefined);
    try {
      for (const n of nodes) cluster.#spawn(n);
      await cluster.ready();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Every node's client URL, for a client that should fail over between them. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** The URLs as one comma-separated `bus.url` / NATS_URL value. */
  get url(): string {
    return this.urls.join(',');
  }

  node(name: string): NatsNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new NatsClusterError(`no node ${name} in this cluster (${this.nodes.map((x) => x.name)})`);
    return n;
  }

  running(name: string): boolean {
    return this.#children.has(name);
  }

  /**
   * Waits until every running node answers /healthz and sees the same JetStream meta
   * leader: before that, creating a stream or a bucket fails.
   */
  async ready(timeoutMs = 30_000): Promise<void> {
    const up = this.nodes.filter((n) => this.running(n.name));
    await waitFor(
      `NATS cluster (${up.map((n) => n.name).join(', ')}) with a JetStream meta leader`,
      async () => {
        const leaders = await Promise.all(up.map((n) => metaLeaderSeenBy(n)));
        return leaders.every((l) => l !== undefined && l === leaders[0]);
      },
      { timeoutMs, logFile: this.dir },
    );
  }

  /** The JetStream meta leader's name, as a running node sees it; undefined while there is none. */
  async metaLeader(): Promise<string | undefined> {
    for (const n of this.nodes.filter((x) => this.running(x.name))) {
      const l = await metaLeaderSeenBy(n).catch(() => undefined);
      if (l !== undefined) return l;
    }
    return undefined;
  }

  /**
   * Every stream the running nodes hold (a KV bucket is the stream `KV_<bucket>`), with
   * its leader and the nodes that keep a copy, from their monitoring endpoints. A stream
   * whose leader is being elected has `leader` undefined.
   */
  async streams(): Promise<StreamPlacement[]> {
    const found = new Map<string, { leader: string | undefined; peers: Set<string> }>();
    for (const n of this.nodes.filter((x) => this.running(x.name))) {
      const jsz = await monitor<Jsz>(n, '/jsz?accounts=true&streams=true').catch(() => undefined);
      for (const acc of jsz?.account_details ?? []) {
        for (const s of acc.stream_detail ?? []) {
          const leader = s.cluster?.leader || undefined;
          const seen = found.get(s.name) ?? { leader: undefined, peers: new Set<string>() };
          found.set(s.name, seen);
          // A node lists the streams it holds a copy of, and names the other holders.
          seen.peers.add(n.name);
          for (const r of s.cluster?.replicas ?? []) seen.peers.add(r.name);
          // The leader's own word wins over a follower's, which may be out of date.
          if (leader !== undefined && (seen.leader === undefined || leader === n.name)) seen.leader = leader;
        }
      }
    }
    return [...found.entries()]
      .map(([name, s]) => ({ name, leader: s.leader, peers: [...s.peers].sort() }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The node leading a stream; undefined while it has none (an election under way). */
  async streamLeader(stream: string): Promise<string | undefined> {
    return (await this.streams()).find((s) => s.name === stream)?.leader;
  }

  /** kill -9 of one node: no shutdown, no leadership handed over. Resolves once it has exited. */
  async kill(name: string): Promise<void> {
    this.node(name);
    const child = this.#children.get(name);
    if (!child) return;
    this.#children.delete(name);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts a stopped node again with its config and store, and waits for the cluster to agree. */
  async restart(name: string): Promise<void> {
    const node = this.node(name);
    if (this.running(name)) return;
    this.#spawn(node);
    await this.ready();
  }

  /** Stops every node (SIGTERM, then SIGKILL) and removes the directory it made. Idempotent. */
  async stop(): Promise<void> {
    const children = [...this.#children.values()];
    this.#children.clear();
    await Promise.allSettled(children.map((c) => stopChild(c, 5_000)));
    if (this.#ownDir) rmSync(this.dir, { recursive: true, force: true });
  }

  #spawn(node: NatsNode): void {
    const fd = openSync(node.logFile, 'a');
    try {
      // Debian's binary is in /usr/sbin, which a user's PATH may leave out.
      const child = spawn('nats-server', ['-c', node.configFile], {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin` },
      });
      this.#children.set(node.name, child);
      child.once('exit', () => {
        if (this.#children.get(node.name) === child) this.#children.delete(node.name);
      });
    } finally {
      closeSync(fd);
    }
  }
}

/** Where a stream lives in the cluster. */
export interface StreamPlacement {
  readonly name: string;
  readonly leader: string | undefined;
  /** Nodes holding a copy, the leader included, by name. */
  readonly peers: readonly string[];
}

interface Jsz {
  meta_cluster?: { leader?: string };
  account_details?: Array<{
    stream_detail?: Array<{
      name: string;
      cluster?: { leader?: string; replicas?: Array<{ name: string }> };
    }>;
  }>;
}

async function metaLeaderSeenBy(n: NatsNode): Promise<string | undefined> {
  const jsz = await monitor<Jsz>(n, '/jsz');
  return jsz.meta_cluster?.leader || undefined;
}

async function monitor<T>(n: NatsNode, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${n.monitorPort}${path}`, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) throw new NatsClusterError(`${n.name} ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}
