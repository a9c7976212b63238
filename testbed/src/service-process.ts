// A Longshore service as its own process, for integration tests: services/<name>/src/main.ts
// run with a config file (and a kubeconfig), its JSON log lines kept, its /livez and
// /readyz at hand. The process gets PATH and what the test passes, nothing else from the
// test's environment, so NATS_URL or REDIS_URL cannot leak into its config.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './env.ts';
import { stopChild } from './processes.ts';

export type ServiceName = 'claimer' | 'scheduler' | 'gc' | 'constraints' | 'vm-scaler';

export interface SpawnServiceOptions {
  readonly configFile: string;
  /** KUBECONFIG for the process; none means the service finds no Kubernetes configuration. */
  readonly kubeconfig?: string;
  /** More environment, e.g. LONGSHORE__agent__name. */
  readonly env?: Readonly<Record<string, string>>;
  /** Names the process in failure messages; default: the service's name. */
  readonly label?: string;
  /** Called with each line as it arrives, e.g. to merge several processes' logs in order. */
  readonly onLine?: (line: string) => void;
}

/** Starts services/<name>/src/main.ts as its own process. */
export function spawnService(service: ServiceName, opts: SpawnServiceOptions): ServiceProcess {
  return ServiceProcess.spawn(service, opts);
}

export class ServiceProcess {
  readonly label: string;
  readonly child: ChildProcess;
  /** Every line the process wrote (stdout and stderr), in order. */
  readonly lines: string[] = [];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  #healthUrl: string | undefined;
  readonly #onLine: ((line: string) => void) | undefined;

  private constructor(service: ServiceName, opts: SpawnServiceOptions) {
    this.label = opts.label ?? service;
    this.#onLine = opts.onLine;
    this.child = spawn(process.execPath, [join(REPO_ROOT, 'services', service, 'src', 'main.ts')], {
      env: {
        PATH: process.env.PATH ?? '',
        LONGSHORE_CONFIG: opts.configFile,
        ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) if (line) this.#keep(line);
      });
      stream?.on('end', () => {
        if (partial) this.#keep(partial);
      });
    }
  }

  /** The same as spawnService, for a caller written before it (bench chaos). */
  static spawn(service: ServiceName, opts: SpawnServiceOptions): ServiceProcess {
    return new ServiceProcess(service, opts);
  }

  #keep(line: string): void {
    this.lines.push(line);
    this.#onLine?.(line);
    if (this.#healthUrl === undefined && line.includes('serving /livez')) {
      const url = parse(line)?.url;
      if (typeof url === 'string') this.#healthUrl = url;
    }
  }

  /** The log lines that are JSON records. */
  records(): Record<string, unknown>[] {
    return this.lines.map(parse).filter((r) => r !== undefined);
  }

  /** Whether a log record's msg contains `text` (or matches it). */
  logged(text: string | RegExp): boolean {
    return this.records().some(
      (r) =>
        typeof r.msg === 'string' && (typeof text === 'string' ? r.msg.includes(text) : text.test(r.msg)),
    );
  }

  /** Base URL of its health server, once it has said where it listens. */
  get healthUrl(): string | undefined {
    return this.#healthUrl;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The HTTP status of GET `path` on its health server; undefined while it does not answer. */
  async status(path: '/livez' | '/readyz' | '/metrics'): Promise<number | undefined> {
    if (this.#healthUrl === undefined) return undefined;
    try {
      const res = await fetch(`${this.#healthUrl}${path}`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return undefined;
    }
  }

  /** Sends SIGTERM (SIGKILL after graceMs) and resolves with the exit code. */
  async stop(graceMs = 10_000): Promise<number | null> {
    await stopChild(this.child, graceMs);
    return this.exited;
  }

  /** The last lines, for a failure message. */
  tail(n = 20): string {
    return this.lines
      .slice(-n)
      .map((l) => `${this.label}: ${l}`)
      .join('\n');
  }
}

function parse(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
