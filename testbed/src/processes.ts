// Starting and stopping the test bed's servers as detached processes that outlive the
// command that started them (so `testbed:up` can return), tracked by pid files.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export class TestbedError extends Error {
  override name = 'TestbedError';
}

export interface StartSpec {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  pidFile: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** Spawns a server detached from this process, its output appended to logFile. */
export function startProcess(spec: StartSpec): number {
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...spec.env },
      cwd: spec.cwd,
    });
    if (child.pid === undefined) throw new TestbedError(`could not start ${spec.name} (${spec.command})`);
    child.unref();
    writeFileSync(spec.pidFile, String(child.pid));
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
  return Number.isFinite(pid) && pid > 0 ? pid : undefined;
}

/** SIGTERM, then SIGKILL after graceMs; removes the pid file. Safe to call when not running. */
export async function stopProcess(pidFile: string, graceMs = 5_000): Promise<void> {
  const pid = readPid(pidFile);
  if (pid !== undefined && isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(20);
  }
  rmSync(pidFile, { force: true });
}

/** SIGTERM to a child of this process, then SIGKILL after graceMs; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Where the kernel takes local ports for outgoing connections (and for `listen(0)`). */
export function ephemeralPorts(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && low > 10_000 && high >= low) return [low, high];
  } catch {
    // not Linux: the IANA range
  }
  return [49_152, 65_535];
}

const FIRST_PORT = 10_000;
const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago on 127.0.0.1, for a server started after this
 * returns. Taken below the ephemeral range: a port from `listen(0)` is one the kernel may
 * give the next outgoing connection as its local port, and a server that binds it a moment
 * later then fails with EADDRINUSE (a NATS node of a cluster did, once, in CI). Never the
 * same port twice in one process.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralPorts();
  for (let i = 0; i < 50; i++) {
    const port = FIRST_PORT + Math.floor(Math.random() * (low - FIRST_PORT));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new TestbedError(`no free port found between ${FIRST_PORT} and ${low - 1} in 50 tries`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
