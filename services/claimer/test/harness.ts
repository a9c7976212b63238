// Runs the container runner end to end for tests: the Runner API simulator (playing the
// task agent), and the claimer and scheduler as real processes against the test bed, each
// test isolated by its own namespace, bus prefix and Redis key prefix.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Bus, connectBus } from '@longshore/bus';
import { type ClassStatus, status } from '@longshore/cli';
import { type AnySubjectDef, MANAGED_SELECTOR } from '@longshore/contracts';
import { type RunningSim, SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { readTestbedEnv } from '@longshore/testbed';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { tempNamespace, testKube } from '../../../testbed/test/kube-helpers.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');

export interface ClassSpec {
  token: string;
  spec?: Record<string, unknown>;
  enableUnsafeRetries?: boolean;
  /**
   * false: the simulator knows the class but not its token (it refuses the claimer until
   * a test registers it with `admin.registerClass`). Default true.
   */
  registered?: boolean;
}

export interface FleetOptions {
  classes: Record<string, ClassSpec>;
  maxConcurrentTasks?: number;
  /** Extra agent.* settings. */
  agent?: Record<string, unknown>;
}

export interface CapturedEvent {
  name: string;
  payload: Record<string, unknown>;
  raw: string;
}

export class Fleet {
  readonly id = randomBytes(3).toString('hex');
  readonly kube = testKube();
  readonly events: CapturedEvent[] = [];
  readonly logs: string[] = [];
  readonly procs = new Map<string, ChildProcess>();
  sim!: RunningSim;
  admin!: SimAdminClient;
  ns!: Awaited<ReturnType<typeof tempNamespace>>;
  bus!: Bus;
  configFile!: string;
  classTokens: string[] = [];
  #tap?: { stop(): Promise<void> };

  static async start(opts: FleetOptions): Promise<Fleet> {
    const f = new Fleet();
    await f.#start(opts);
    return f;
  }

  get prefix(): string {
    return `e2e${this.id}`;
  }

  async #start(opts: FleetOptions): Promise<void> {
    const env = readTestbedEnv();
    this.ns = await tempNamespace(this.kube.core, `e2e-${this.id}`);
    // A class the simulator must know without the claimer's token gets one of its own.
    const tokens = Object.fromEntries(
      Object.entries(opts.classes).map(([rc, c]) => [
        rc,
        [c.registered === false ? `sim-only-${randomBytes(8).toString('hex')}` : c.token],
      ]),
    );
    this.classTokens = Object.values(opts.classes).map((c) => c.token);
    this.sim = await startSim({
      classes: tokens,
      apiToken: 'api-token-e2e',
      agent: { kc: this.kube.kc, namespace: this.ns.name },
      // Tests kill runners mid-claim: requeue claims whose answer died with them quickly.
      claimLeaseMs: 5_000,
    });
    this.admin = new SimAdminClient(this.sim.url);
    const cfg = {
      agent: {
        runnerAPI: this.sim.url,
        namespace: this.ns.name,
        maxConcurrentTasks: opts.maxConcurrentTasks ?? 20,
        taskPod: { imagePullTimeout: '2s', unschedulableTimeout: '3s' },
        resourceClasses: Object.fromEntries(
          Object.entries(opts.classes).map(([rc, c]) => [
            rc,
            {
              token: c.token,
              ...(c.spec ? { spec: c.spec } : {}),
              enableUnsafeRetries: c.enableUnsafeRetries ?? false,
            },
          ]),
        ),
        ...opts.agent,
      },
      bus: { url: env.NATS_URL, prefix: this.prefix },
      redis: { url: env.REDIS_URL, keyPrefix: this.prefix },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    };
    const dir = mkdtempSync(join(tmpdir(), 'longshore-e2e-'));
    this.configFile = join(dir, 'config.yaml');
    writeFileSync(this.configFile, stringify(cfg));
    this.bus = await connectBus({ servers: env.NATS_URL, prefix: this.prefix, name: `e2e-${this.id}` });
    await this.bus.ensureStream();
    const sub = this.bus.subscribe('>', (e) => {
      this.events.push({
        name: e.name,
        payload: e.payload as Record<string, unknown>,
        raw: JSON.stringify(e.payload),
      });
    });
    this.#tap = sub;
  }

  /**
   * Starts a service process under a name; stderr/stdout are captured. `extraEnv` is added
   * to its environment (e.g. the AWS SDK's endpoint settings, pointing at a fake).
   */
  spawn(
    service: 'claimer' | 'scheduler' | 'constraints' | 'gc',
    name: string = service,
    extraEnv: Record<string, string> = {},
  ): ChildProcess {
    const env = readTestbedEnv();
    const child = spawn(process.execPath, [join(REPO, 'services', service, 'src', 'main.ts')], {
      env: {
        PATH: process.env.PATH,
        LONGSHORE_CONFIG: this.configFile,
        KUBECONFIG: env.KUBECONFIG,
        LONGSHORE__agent__name: `${name}-${this.id}`,
        LONGSHORE_INSTANCE: `${name}-${this.id}`,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line) this.logs.push(`${name}: ${line}`);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.procs.set(name, child);
    return child;
  }

  exited(name: string): Promise<number | null> {
    const c = this.procs.get(name);
    if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c?.exitCode ?? null);
    return new Promise((resolve) => c.once('exit', (code) => resolve(code)));
  }

  kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const done = this.exited(name);
    this.procs.get(name)?.kill(signal);
    return done;
  }

  events$(name: string): CapturedEvent[] {
    return this.events.filter((e) => e.name === name);
  }

  async waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined> | T | undefined,
    timeoutMs = 60_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}\n${this.logs.slice(-30).join('\n')}`);
      await sleep(200);
    }
  }

  async waitForTasksEnded(ids: string[], timeoutMs = 90_000) {
    let unfinished: unknown[] = [];
    try {
      return await this.waitFor(
        `${ids.length} tasks to end`,
        async () => {
          const tasks = await Promise.all(ids.map((id) => this.admin.task(id)));
          unfinished = tasks.filter((t) => !['completed', 'failed', 'cancelled'].includes(t.state));
          return unfinished.length === 0 ? tasks : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      const detail = unfinished.map((t) => JSON.stringify(t)).join('\n');
      throw new Error(`${(err as Error).message}\nunfinished tasks:\n${detail}`, { cause: err });
    }
  }

  async taskObjects(): Promise<{ pods: string[]; secrets: string[] }> {
    const { core } = this.kube;
    const pods = await core.listNamespacedPod({ namespace: this.ns.name, labelSelector: MANAGED_SELECTOR });
    const secrets = await core.listNamespacedSecret({
      namespace: this.ns.name,
      labelSelector: MANAGED_SELECTOR,
    });
    return {
      pods: pods.items.map((p) => p.metadata!.name!),
      secrets: secrets.items.map((s) => s.metadata!.name!),
    };
  }

  /**
   * Task tokens seen in the ledger while the watch runs, to look for them in logs and on the
   * bus afterwards (expectNoSecrets).
   */
  watchTaskTokens(): { seen: Set<string>; stop(): Promise<void> } {
    const redis = new Redis(readTestbedEnv().REDIS_URL);
    const seen = new Set<string>();
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const keys = await redis.keys(`${this.prefix}:token:*`);
        for (const v of keys.length > 0 ? await redis.mget(...keys) : []) if (v) seen.add(v);
        await sleep(100);
      }
    })();
    return {
      seen,
      stop: async () => {
        stopped = true;
        await loop;
        redis.disconnect();
      },
    };
  }

  /**
   * What `longshore status --json` says of this fleet's classes, and its whole output (to
   * look for tokens in).
   */
  async status(): Promise<{ classes: ClassStatus[]; printed: string }> {
    const env = readTestbedEnv();
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    const code = await status(
      { json: true, natsUrl: env.NATS_URL, redisUrl: env.REDIS_URL, prefix: this.prefix },
      io,
    );
    expect(code, out.join('\n')).toBe(0);
    const printed = out.join('\n');
    return { classes: (JSON.parse(out[0]!) as { classes: ClassStatus[] }).classes, printed };
  }

  /**
   * No token (task tokens given, resource class tokens from the fleet) in any log line or
   * bus message, nor in `elsewhere` (e.g. what `longshore status` printed).
   */
  expectNoSecrets(tokens: Iterable<string>, elsewhere: readonly string[] = []): void {
    const all = [...tokens, ...this.classTokens];
    const logs = this.logs.join('\n');
    const bus = this.events.map((e) => e.raw).join('\n');
    const other = elsewhere.join('\n');
    for (const t of all) {
      expect(logs.includes(t), 'a token in the logs').toBe(false);
      expect(bus.includes(t), 'a token on the bus').toBe(false);
      expect(other.includes(t), 'a token in what else was shown').toBe(false);
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.procs.keys()].map((n) => this.kill(n)));
    await this.#tap?.stop();
    await this.bus?.close().catch(() => {});
    await this.sim?.close().catch(() => {});
    await this.ns?.cleanup();
  }
}

export type { AnySubjectDef };
