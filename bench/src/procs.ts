// Longshore's services as their own processes, as deployed: one Node process per service,
// running its bundle (dist/<svc>.mjs, built by main.ts before the run) with the image's
// NODE_OPTIONS, each with the shared config file and its own bench user's kubeconfig. Peak
// RSS and CPU time come from /proc, read from outside the process.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imageNodeOptions, programPath } from '@longshore/build';
import { COMPONENTS, layout, REPO_ROOT, stopChild } from '@longshore/testbed';

export const SERVICES = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ProcStats {
  /** VmHWM: the peak resident set size, MB. */
  peakRssMb: number;
  /** utime + stime, seconds. */
  cpuSeconds: number;
}

/** Clock ticks per second of /proc/<pid>/stat; 100 on Linux everywhere we run. */
const CLK_TCK = 100;

export function procStats(pid: number): ProcStats | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+)\s+kB/.exec(status);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return { peakRssMb: Number(hwm?.[1] ?? 0) / 1024, cpuSeconds: (utime + stime) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/**
 * The running processes, by instance: the service's name, or `<service>-<n>` when it runs as
 * replicas (`claimer-1`, `claimer-2`).
 */
/**
 * CPU seconds so far of each test bed process (apiserver, etcd, kwok, ...) and of the bench's
 * own process (the Runner API simulator playing the in-pod agent, the bench's watches and bus
 * tap): where a phase's CPU went besides the services, by difference.
 */
export function machineCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of COMPONENTS) {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(layout.pid(c), 'utf8'), 10);
    } catch {
      continue;
    }
    const s = Number.isFinite(pid) ? procStats(pid) : undefined;
    if (s) out[c] = s.cpuSeconds;
  }
  const u = process.cpuUsage();
  out.bench = (u.user + u.system) / 1e6;
  return out;
}

/** `after - before` per key of `after`. */
export function cpuSince(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

export class ServiceProcs {
  readonly procs = new Map<string, ChildProcess>();
  readonly #urls = new Map<string, string>();
  readonly #logDir: string;
  readonly #logPrefix: string;
  readonly #nodeOptions = imageNodeOptions();

  /** Logs go to `<logDir>/<logPrefix><instance>.log`. */
  constructor(logDir: string, logPrefix = 'bench-') {
    this.#logDir = logDir;
    this.#logPrefix = logPrefix;
  }

  start(
    svc: ServiceName,
    configFile: string,
    kubeconfig: string,
    extraEnv: Record<string, string> = {},
    instance: string = svc,
  ): void {
    const log = createWriteStream(join(this.#logDir, `${this.#logPrefix}${instance}.log`), { flags: 'a' });
    // LONGSHORE_BENCH_CPU_PROF=<dir>: V8 CPU profiles of every service, for finding hot spots.
    const prof = process.env.LONGSHORE_BENCH_CPU_PROF;
    const flags = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
    const child = spawn(process.execPath, [...flags, join(REPO_ROOT, programPath(svc))], {
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: this.#nodeOptions,
        LONGSHORE_CONFIG: configFile,
        KUBECONFIG: kubeconfig,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    const onData = (d: Buffer) => {
      log.write(d);
      if (this.#urls.has(instance)) return;
      buffered += d.toString();
      const m = /"url":"(http:\/\/[^"]+)".*serving \/livez/.exec(buffered);
      if (m) this.#urls.set(instance, m[1]!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => log.end());
    this.procs.set(instance, child);
  }

  /** Waits for every started service to answer /readyz; throws naming one that died or never did. */
  async ready(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [svc, child] of this.procs) {
      for (;;) {
        if (child.exitCode !== null)
          throw new Error(
            `${svc} exited (${child.exitCode}); see .testbed/logs/${this.#logPrefix}${svc}.log`,
          );
        const url = this.#urls.get(svc);
        if (url) {
          const ok = await fetch(`${url}/readyz`)
            .then((r) => r.ok)
            .catch(() => false);
          if (ok) break;
        }
        if (Date.now() > deadline) throw new Error(`${svc} not ready after ${timeoutMs} ms`);
        await sleep(100);
      }
    }
  }

  /** An instance's /metrics text ('' when it cannot be read). */
  async metrics(svc: string): Promise<string> {
    const url = this.#urls.get(svc);
    if (!url) return '';
    return fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.text())
      .catch(() => '');
  }

  stats(): Record<string, ProcStats> {
    const out: Record<string, ProcStats> = {};
    for (const [svc, child] of this.procs) {
      const s = child.pid === undefined ? undefined : procStats(child.pid);
      if (s) out[svc] = s;
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((child) => stopChild(child, 15_000)));
  }
}
