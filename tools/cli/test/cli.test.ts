// The `longshore` entry point as a user runs it: help and the version on stdout with status
// 0, an unknown command named on stderr with the usage and status 2, a failure that can be
// foreseen (a port in use) in one line with status 1. commands.test.ts covers
// every command line; this checks that cli.ts prints and exits as commands.ts decides.
import { execFile } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTestbedEnv } from '@longshore/testbed';
import { describe, expect, it } from 'vitest';
import cliPackage from '../package.json' with { type: 'json' };

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');

async function longshore(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('the longshore command', () => {
  it('ui: says a port in use is in use, and exits 1 with nothing left running', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const r = await longshore('ui', '--port', String(port), '--nats', readTestbedEnv().NATS_URL);
      expect(r).toMatchObject({ code: 1, stdout: '' });
      expect(r.stderr).toBe(
        `longshore ui: 127.0.0.1:${port} is in use; give another --port (0: any free one)\n`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('prints its usage for --help and help, on stdout, and exits 0', async () => {
    for (const args of [['--help'], ['help']]) {
      const r = await longshore(...args);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^usage: longshore COMMAND/);
      expect(r.stdout).toMatch(/config check/);
    }
  });

  it("answers a command's --help without running it", async () => {
    // `start` would bring up the whole stack; its help must not.
    const start = await longshore('start', '--help');
    expect(start).toMatchObject({ code: 0, stderr: '' });
    expect(start.stdout).toMatch(/^usage: longshore start \[--once\]/);
    const tap = await longshore('tap', '-h');
    expect(tap).toMatchObject({ code: 0, stderr: '' });
    expect(tap.stdout).toMatch(/^usage: longshore tap \[FILTER\]/);
  });

  it('prints the version and exits 0', async () => {
    expect(await longshore('--version')).toEqual({ code: 0, stdout: `${cliPackage.version}\n`, stderr: '' });
  });

  it('names an unknown command on stderr, shows the usage and exits 2', async () => {
    const r = await longshore('frobnicate');
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^longshore: unknown command: frobnicate\n/);
    expect(r.stderr).toMatch(/usage: longshore COMMAND/);
  });

  it("refuses a command's bad option with that command's usage and exits 2", async () => {
    const r = await longshore('start', '--bogus');
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^longshore start: Unknown option '--bogus'/);
    expect(r.stderr).toMatch(/usage: longshore start/);
  });
});
