import { describe, expect, it } from 'vitest';
import type { KitLogger } from './logger.ts';
import { createShutdown } from './shutdown.ts';

/** Records log calls as [level, msg, fields]. */
function fakeLogger() {
  const entries: [string, string | undefined, object][] = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      entries.push([level, msg, obj]);
    };
  const logger: KitLogger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, entries, messages: () => entries.map(([l, m]) => `${l}: ${m}`) };
}

describe('createShutdown', () => {
  it('runs closers in reverse order, each even when an earlier one fails', async () => {
    const log = fakeLogger();
    const shutdown = createShutdown({ logger: log.logger });
    const ran: string[] = [];
    shutdown.add('redis', () => {
      ran.push('redis');
    });
    shutdown.add('bus', async () => {
      ran.push('bus');
      throw new Error('drain failed');
    });
    shutdown.add('http', () => {
      ran.push('http');
      throw new Error('sync throw');
    });
    shutdown.add('loop', async () => {
      ran.push('loop');
    });

    const result = await shutdown.run('test');
    expect(ran).toEqual(['loop', 'http', 'bus', 'redis']);
    expect(result).toEqual({ reason: 'test', ok: false, failed: ['http', 'bus'], timedOut: false });
    const failures = log.entries.filter(([level]) => level === 'error');
    expect(failures.map(([, , f]) => (f as { closer: string }).closer)).toEqual(['http', 'bus']);
  });

  it('is idempotent: a second run returns the same promise and runs nothing again', async () => {
    const shutdown = createShutdown({ logger: fakeLogger().logger });
    let count = 0;
    shutdown.add('once', () => {
      count++;
    });
    const a = shutdown.run('first');
    const b = shutdown.run('second');
    expect(b).toBe(a);
    expect((await b).reason).toBe('first');
    expect(count).toBe(1);
    expect(shutdown.started).toBe(true);
  });

  it('aborts its signal when shutdown begins, before any closer runs', async () => {
    const shutdown = createShutdown({ logger: fakeLogger().logger });
    let abortedWhenClosing = false;
    shutdown.add('loop', () => {
      abortedWhenClosing = shutdown.signal.aborted;
    });
    expect(shutdown.signal.aborted).toBe(false);
    await shutdown.run('drain');
    expect(abortedWhenClosing).toBe(true);
    expect(shutdown.signal.reason).toMatchObject({ name: 'AbortError', message: 'shutting down: drain' });
  });

  it('gives up on closers after the timeout, naming the one that hung', async () => {
    const log = fakeLogger();
    const shutdown = createShutdown({ logger: log.logger, timeoutMs: 50 });
    let earlierRan = false;
    shutdown.add('earlier', () => {
      earlierRan = true;
    });
    shutdown.add('stuck', () => new Promise(() => {}));
    const result = await shutdown.run('test');
    expect(result).toMatchObject({ ok: false, timedOut: true, failed: [] });
    expect(earlierRan).toBe(false);
    expect(log.entries).toContainEqual([
      'error',
      'shutdown timed out; abandoning the remaining closers',
      { timeoutMs: 50, closer: 'stuck' },
    ]);
  });

  it('runs a closer added during shutdown at once', async () => {
    const shutdown = createShutdown({ logger: fakeLogger().logger });
    await shutdown.run('test');
    let ran = false;
    shutdown.add('late', () => {
      ran = true;
    });
    await Promise.resolve();
    expect(ran).toBe(true);
  });

  it('on a signal runs the closers and exits 0, and a second signal only logs', async () => {
    const log = fakeLogger();
    const exits: number[] = [];
    const shutdown = createShutdown({ logger: log.logger, exit: (code) => exits.push(code) });
    let release: () => void = () => {};
    let closes = 0;
    shutdown.add('slow', () => {
      closes++;
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const uninstall = shutdown.installSignalHandlers(['SIGUSR2']);
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(log.messages()).toContain('warn: already shutting down; still waiting for the closers');
      expect(exits).toEqual([]);
      release();
      await shutdown.run('ignored');
      await new Promise((r) => setImmediate(r));
      expect(exits).toEqual([0]);
      expect(closes).toBe(1);
    } finally {
      uninstall();
    }
  });

  it('exits 1 when a closer failed', async () => {
    const exits: number[] = [];
    const shutdown = createShutdown({ logger: fakeLogger().logger, exit: (code) => exits.push(code) });
    shutdown.add('bad', () => {
      throw new Error('x');
    });
    const uninstall = shutdown.installSignalHandlers(['SIGUSR2']);
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      await shutdown.run('ignored');
      await new Promise((r) => setImmediate(r));
      expect(exits).toEqual([1]);
    } finally {
      uninstall();
    }
  });
});
