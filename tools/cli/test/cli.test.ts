// The `longshore` entry point as a user runs it: help and the version on stdout with status
// 0, an unknown command named on stderr with the usage and status 2. commands.test.ts covers
// every command line; this checks that cli.ts prints and exits as commands.ts decides.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
