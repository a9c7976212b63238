// Real signals to a real process: a child running a tiny service built on the shutdown
// routine and health server.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/service.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];

function startFixture(env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^ready (\S+)$/m.exec(out);
      if (m?.[1]) resolve({ child, url: m[1], stdout: () => out, stderr: () => err, exited });
    });
    void exited.then(({ code }) => reject(new Error(`fixture exited early (${code}): ${err}`)));
  });
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('shutdown and health in a real process', () => {
  it('SIGTERM: stops the loop, runs every closer in reverse order, exits 0', async () => {
    const s = await startFixture();
    expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
    s.child.kill('SIGTERM');
    const { code } = await s.exited;
    expect(code).toBe(0);
    expect(s.stdout().trim().split('\n').slice(1)).toEqual(['loop stopped', 'closed: slow', 'closed: first']);
    await expect(fetch(`${s.url}/livez`)).rejects.toThrow();
  });

  it('a failing closer: the others still run, exit code 1', async () => {
    const s = await startFixture({ FAIL_CLOSER: '1' });
    s.child.kill('SIGINT');
    const { code } = await s.exited;
    expect(code).toBe(1);
    expect(s.stdout()).toContain('closed: first');
    expect(s.stderr()).toContain('closer failure on purpose');
  });

  it('a second signal during shutdown is logged, and shutdown still completes', async () => {
    const s = await startFixture();
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100)); // inside the slow closer
    s.child.kill('SIGTERM');
    const { code } = await s.exited;
    expect(code).toBe(0);
    expect(s.stderr()).toContain('already shutting down');
    expect(s.stdout()).toContain('closed: first');
  });
});
