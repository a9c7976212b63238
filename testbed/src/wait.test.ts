import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { eventually, waitFor } from './wait.ts';

/** A probe that answers from a list, one answer per call (an Error is thrown). */
function answers<T>(...list: (T | Error)[]): () => Promise<T> {
  let i = 0;
  return async () => {
    const a = list[Math.min(i++, list.length - 1)] as T | Error;
    if (a instanceof Error) throw a;
    return a;
  };
}

describe('waitFor', () => {
  it('returns the first answer that is neither undefined nor false, past errors', async () => {
    const probe = answers<string | undefined | false>(undefined, false, new Error('refused'), 'ready');
    await expect(waitFor('the server', probe, { timeoutMs: 10_000, intervalMs: 1 })).resolves.toBe('ready');
  });

  it('names what it waited for, the last error as cause and the detail', async () => {
    const refused = new Error('connection refused');
    const waiting = waitFor('the server', answers<boolean>(refused), {
      timeoutMs: 20,
      intervalMs: 5,
      logFile: '/tmp/server.log',
      detail: () => 'last log line',
    });
    await expect(waiting).rejects.toMatchObject({
      message: expect.stringMatching(/waiting for the server; see \/tmp\/server\.log\nlast log line$/),
      cause: refused,
    });
  });

  it('ends at once when the process it waits for has exited', async () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    await expect(waitFor('the server', () => false, { timeoutMs: 600_000, pid: gone })).rejects.toThrow(
      /^the server exited during start-up$/,
    );
  });
});

describe('eventually', () => {
  it("returns the check's value once it stops throwing", async () => {
    await expect(
      eventually(answers<number>(new Error('not yet'), new Error('not yet'), 7), 10_000, 1),
    ).resolves.toBe(7);
  });

  it('throws the last error as it was', async () => {
    const last = new Error('expected 4, got 3');
    await expect(eventually(answers<number>(new Error('first'), last), 20, 5)).rejects.toBe(last);
  });
});
