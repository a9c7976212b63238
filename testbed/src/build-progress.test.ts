// testbed/scripts/progress.sh, which build-binaries.sh runs each Go build through: a fake
// build step stands in for the 10-minute one, with a heartbeat every second. The step
// waits until the heartbeat has spoken, so no test depends on how long anything takes.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const PROGRESS = join(import.meta.dirname, '..', 'scripts', 'progress.sh');

/** A build step (bash) that returns once a heartbeat line is in the log. */
const AFTER_A_HEARTBEAT = 'until grep -q "still building" "$LOG"; do sleep 0.1; done';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * Runs `run_with_progress test LABEL step` in a script of its own, as build-binaries.sh
 * does (errexit on), with `step` defined by `body`. Resolves with the script's exit status,
 * its stderr, and the processes of its session still alive when it has exited.
 */
async function runStep(body: string): Promise<{ code: number | null; log: string; leftOver: string[] }> {
  dir = mkdtempSync(join(tmpdir(), 'progress-'));
  const log = join(dir, 'stderr.log');
  const script = [
    'set -euo pipefail',
    'exec 2>"$LOG"',
    `. "${PROGRESS}"`,
    `step() { ${body}; }`,
    'run_with_progress test "fake 1.2.3" step',
    'echo "after the build" >&2',
  ].join('\n');
  // Its own session, so that whatever it leaves running can be found by session id.
  const child = spawn('bash', ['-c', script], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH, LOG: log, LONGSHORE_HEARTBEAT: '1' },
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, log: readFileSync(log, 'utf8'), leftOver: inSession(child.pid!) };
}

/** The commands of the live processes in session `sid` (Linux /proc). */
function inSession(sid: number): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces, so split after it.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const [state, , , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(session) === sid && state !== 'Z') found.push(`${pid} ${comm}`);
  }
  return found;
}

describe('run_with_progress', () => {
  it('says what it builds, beats while it builds, and how long it took', async () => {
    const r = await runStep(AFTER_A_HEARTBEAT);
    expect(r.code).toBe(0);
    const lines = r.log.trim().split('\n');
    expect(lines[0]).toBe('test: building fake 1.2.3');
    expect(lines).toContainEqual(
      expect.stringMatching(/^test: still building fake 1\.2\.3 \(\d+s so far\)$/),
    );
    expect(lines.at(-2)).toMatch(/^test: built fake 1\.2\.3 in \d+s$/);
    expect(lines.at(-1)).toBe('after the build');
    expect(r.leftOver).toEqual([]);
  });

  it('stops a build at its first failing command, keeps its exit status, and stops the heartbeat', async () => {
    const r = await runStep(`${AFTER_A_HEARTBEAT}; (exit 3); echo "not reached" >&2`);
    expect(r.code).toBe(3);
    expect(r.log).toMatch(/^test: still building fake 1\.2\.3/m);
    expect(r.log.trim().split('\n').at(-1)).toMatch(
      /^test: building fake 1\.2\.3 failed after \d+s \(exit status 3\)$/,
    );
    expect(r.log).not.toContain('not reached');
    expect(r.log).not.toContain('after the build');
    expect(r.leftOver).toEqual([]);
  });
});
