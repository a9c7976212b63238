// A Redis that fails over the way a managed one does, for tests of what a promoted replica
// that missed the last writes does to the claim ledger: a primary, a replica following it
// (`--replicaof`), and a TCP proxy in front standing for the service's endpoint. failover()
// makes the replica stop following first, so whatever the primary takes after that is
// missing on it (replication is asynchronous: a real failover loses the same window), then
// moves the endpoint to the former replica and kills the old primary.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScratchServer, TcpProxy } from './outage.ts';
import { parseRedisInfo, redisCommand } from './probes.ts';
import { freePort, TestbedError } from './processes.ts';
import { waitFor } from './wait.ts';

export interface FailoverOptions {
  /**
   * How long the cut-off primary keeps serving the endpoint before the switch: writes made
   * then are lost with it. Default 0 (only what was in flight).
   */
  lagMs?: number;
}

export interface FailoverResult {
  /**
   * Bytes of the primary's replication stream the promoted replica never got (from their
   * replication offsets): above 0 when the primary took writes after the cut.
   */
  lostBytes: number;
}

/** Thrown when the pair does not come up, or a failover is asked for twice. */
export class RedisFailoverError extends TestbedError {
  override name = 'RedisFailoverError';
}

export class RedisFailover {
  readonly #primary: ScratchServer;
  readonly #replica: ScratchServer;
  readonly #proxy: TcpProxy;
  readonly #dir: string;
  #failedOver = false;

  private constructor(primary: ScratchServer, replica: ScratchServer, proxy: TcpProxy, dir: string) {
    this.#primary = primary;
    this.#replica = replica;
    this.#proxy = proxy;
    this.#dir = dir;
  }

  /** Starts the primary, the replica and the endpoint; resolves once the replica is in sync. */
  static async start(): Promise<RedisFailover> {
    // Where each server's snapshots go (the replica writes one as it first syncs).
    const dir = mkdtempSync(join(tmpdir(), 'longshore-redis-failover-'));
    for (const d of ['primary', 'replica']) mkdirSync(join(dir, d));
    const primary = ScratchServer.redis(await freePort(), { dir: join(dir, 'primary') });
    const replica = ScratchServer.redis(await freePort(), {
      replicaOf: primary.port,
      dir: join(dir, 'replica'),
    });
    const proxy = new TcpProxy(await freePort(), { host: '127.0.0.1', port: primary.port });
    const pair = new RedisFailover(primary, replica, proxy, dir);
    try {
      await primary.start();
      await replica.start();
      await waitFor(
        `redis replica on port ${replica.port} in sync with ${primary.port}`,
        async () => (await replicationInfo(replica.port)).master_link_status === 'up',
        { timeoutMs: 30_000 },
      );
      await proxy.listen();
    } catch (err) {
      await pair.stop();
      throw err;
    }
    return pair;
  }

  /** The endpoint clients use: the primary until failover(), the former replica after. */
  get url(): string {
    return `redis://127.0.0.1:${this.#proxy.port}`;
  }

  /** The current primary's own URL, past the endpoint (to look at it directly). */
  get primaryUrl(): string {
    return (this.#failedOver ? this.#replica : this.#primary).url;
  }

  /**
   * Waits until the replica has everything the primary had taken when called (what WAIT
   * cannot promise: it may count a replica that has not acknowledged the write yet).
   */
  async caughtUp(timeoutMs = 10_000): Promise<void> {
    const target = Number((await replicationInfo(this.#primary.port)).master_repl_offset);
    await waitFor(
      `redis replica on port ${this.#replica.port} at offset ${target}`,
      async () => Number((await replicationInfo(this.#replica.port)).slave_repl_offset) >= target,
      { timeoutMs },
    );
  }

  /**
   * Promotes the replica with the primary's last writes missing: the replica stops
   * following (REPLICAOF NO ONE), the primary keeps the endpoint for `lagMs` more, then the
   * endpoint moves to the former replica (cutting every open connection) and the old
   * primary is killed. Once per pair.
   */
  async failover(opts: FailoverOptions = {}): Promise<FailoverResult> {
    if (this.#failedOver) throw new RedisFailoverError('this pair has already failed over');
    this.#failedOver = true;
    await redisCommand(this.#replica.port, ['REPLICAOF', 'NO', 'ONE']);
    // A promoted replica keeps the offset it had reached; the primary's goes on growing.
    const cut = Number((await replicationInfo(this.#replica.port)).master_repl_offset);
    if (opts.lagMs) await sleep(opts.lagMs);
    const last = Number((await replicationInfo(this.#primary.port)).master_repl_offset);
    this.#proxy.retarget({ host: '127.0.0.1', port: this.#replica.port });
    await this.#primary.stop();
    return { lostBytes: Math.max(0, last - cut) };
  }

  /** Stops the endpoint and both servers; safe to call twice, and after a failed start. */
  async stop(): Promise<void> {
    await Promise.allSettled([this.#proxy.close(), this.#primary.stop(), this.#replica.stop()]);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

async function replicationInfo(port: number): Promise<Record<string, string>> {
  const text = await redisCommand(port, ['INFO', 'replication']);
  return parseRedisInfo(typeof text === 'string' ? text : '');
}
