// Dependencies a test can take away and bring back, to show a service riding out an
// outage: a NATS or Redis server of the test's own on a fixed port (started late, stopped,
// started again on the same port and data), and a TCP proxy in front of the test bed's
// apiserver that is not listening until told to and can cut every connection at once.
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { redisPing } from './probes.ts';
import { stopChild } from './processes.ts';
import { waitFor } from './wait.ts';

/** A server process of the test's own, on one port, that can be stopped and started again. */
export class ScratchServer {
  readonly kind: 'nats' | 'redis';
  readonly port: number;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;

  private constructor(kind: 'nats' | 'redis', port: number, args: readonly string[]) {
    this.kind = kind;
    this.port = port;
    this.#args = args;
  }

  /** nats-server with JetStream, its store in `storeDir` (kept across restarts). Not started yet. */
  static nats(port: number, storeDir: string): ScratchServer {
    return new ScratchServer('nats', port, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir]);
  }

  /**
   * redis-server without persistence. Not started yet. With `replicaOf`, a replica that
   * follows the Redis on that port; give it a `dir`, as a replica writes the snapshot of
   * its first sync there (the working directory otherwise).
   */
  static redis(port: number, opts: { replicaOf?: number; dir?: string } = {}): ScratchServer {
    return new ScratchServer('redis', port, [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      // A primary waits 5 s by default before a replica's first sync, for more to join.
      '--repl-diskless-sync-delay',
      '0',
      ...(opts.dir === undefined ? [] : ['--dir', opts.dir]),
      ...(opts.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(opts.replicaOf)]),
    ]);
  }

  get url(): string {
    return `${this.kind}://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits until it answers on its port. */
  async start(): Promise<void> {
    if (this.#child) return;
    // Debian's binaries, found as the test bed finds them (nats-server is in /usr/sbin).
    const child = spawn(this.kind === 'nats' ? 'nats-server' : 'redis-server', this.#args, {
      stdio: 'ignore',
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin` },
    });
    this.#child = child;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    await waitFor(
      `${this.kind} on port ${this.port}`,
      () => (this.kind === 'redis' ? redisPing(this.port) : acceptsTcp(this.port)),
      { timeoutMs: 30_000, ...(child.pid === undefined ? {} : { pid: child.pid }) },
    );
  }

  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child) await stopChild(child, 5_000);
  }
}

/**
 * Pipes TCP connections to a target (TLS passes through untouched, so a kubeconfig pointed
 * at the proxy still verifies the apiserver's certificate for 127.0.0.1). The target can be
 * switched, as a managed service's endpoint moves to another server on failover.
 */
export class TcpProxy {
  readonly port: number;
  #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(port: number, target: { host: string; port: number }) {
    this.port = port;
    this.#target = target;
  }

  listen(): Promise<void> {
    if (this.#server) return Promise.resolve();
    const server = createServer((client) => {
      const upstream = connect(this.#target.port, this.#target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  get target(): { host: string; port: number } {
    return { ...this.#target };
  }

  /**
   * Sends new connections to another server and cuts the open ones, as a failover does to
   * a managed Redis's endpoint: clients reconnect and find the new server behind the name.
   */
  retarget(target: { host: string; port: number }): void {
    this.#target = { ...target };
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  /** Stops listening and cuts every open connection, as a server going away would. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.setTimeout(2_000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
