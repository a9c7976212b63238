import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  innermostMessage,
  redactUrl,
  retryUntilAvailable,
  START_BACKOFF,
  seconds,
  type WaitLogger,
} from './retry.ts';

/** A logger that keeps what it was told. */
function recordingLogger() {
  const lines: { level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }[] = [];
  const logger: WaitLogger = {
    info: (obj, msg) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  return { logger, lines };
}

const NO_WAIT = { firstMs: 1, maxMs: 1, jitter: 0 };

describe('backoffDelay', () => {
  it('doubles from the first pause up to the cap', () => {
    const noJitter = { ...START_BACKOFF, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n, noJitter))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('takes at most the jitter share off, never adds', () => {
    expect(backoffDelay(3, START_BACKOFF, () => 0)).toBe(4_000);
    expect(backoffDelay(3, START_BACKOFF, () => 1)).toBe(3_200);
    expect(backoffDelay(3, START_BACKOFF, () => 0.5)).toBe(3_600);
  });
});

describe('innermostMessage', () => {
  it('names the root cause, which the wrappers only restate', () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4222'), { code: 'ECONNREFUSED' });
    const err = new Error('cannot connect to NATS', {
      cause: new Error('connection refused', { cause: root }),
    });
    expect(innermostMessage(err)).toBe('connect ECONNREFUSED 127.0.0.1:4222');
    expect(innermostMessage(new Error('plain'))).toBe('plain');
    expect(innermostMessage('a string')).toBe('a string');
  });
});

describe('redactUrl', () => {
  it('hides user and password, keeps host and port', () => {
    expect(redactUrl('nats://user:s3cret@nats:4222')).toBe('nats://***@nats:4222');
    expect(redactUrl('redis://:s3cret@redis:6379/0')).toBe('redis://***@redis:6379/0');
    expect(redactUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
  });
});

describe('retryUntilAvailable', () => {
  it('tries until the step works, one warning per failure naming what and why', async () => {
    const { logger, lines } = recordingLogger();
    let tries = 0;
    const value = await retryUntilAvailable(
      'NATS at nats://127.0.0.1:4222',
      async () => {
        tries++;
        if (tries < 3) throw new Error('down', { cause: new Error('connect ECONNREFUSED 127.0.0.1:4222') });
        return 'up';
      },
      { logger, backoff: NO_WAIT },
    );
    expect(value).toBe('up');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [
        'warn',
        'waiting for NATS at nats://127.0.0.1:4222: connect ECONNREFUSED 127.0.0.1:4222; retrying in 0.0 s',
      ],
      [
        'warn',
        'waiting for NATS at nats://127.0.0.1:4222: connect ECONNREFUSED 127.0.0.1:4222; retrying in 0.0 s',
      ],
      ['info', 'NATS at nats://127.0.0.1:4222 is available'],
    ]);
    expect(lines[1]?.obj).toMatchObject({ waiting_for: 'NATS at nats://127.0.0.1:4222', tries: 2 });
  });

  it('logs nothing when the first try works', async () => {
    const { logger, lines } = recordingLogger();
    expect(await retryUntilAvailable('x', async () => 1, { logger })).toBe(1);
    expect(lines).toEqual([]);
  });

  it('throws a fatal error at once', async () => {
    const { logger, lines } = recordingLogger();
    let tries = 0;
    const forbidden = new Error('forbidden');
    await expect(
      retryUntilAvailable(
        'the Secret',
        async () => {
          tries++;
          throw forbidden;
        },
        { logger, isFatal: (e) => e === forbidden, backoff: NO_WAIT },
      ),
    ).rejects.toBe(forbidden);
    expect(tries).toBe(1);
    expect(lines).toEqual([]);
  });

  it('uses describe for the reason', async () => {
    const { logger, lines } = recordingLogger();
    let tries = 0;
    await retryUntilAvailable(
      'the apiserver',
      async () => {
        if (tries++ === 0) throw new Error('long text');
      },
      { logger, describe: () => 'HTTP 503 Service Unavailable', backoff: NO_WAIT },
    );
    expect(lines[0]?.msg).toBe('waiting for the apiserver: HTTP 503 Service Unavailable; retrying in 0.0 s');
  });

  it('stops waiting when its signal is aborted, rejecting with the reason', async () => {
    const { logger, lines } = recordingLogger();
    const stop = new AbortController();
    const reason = new Error('shutting down');
    // The first failure is followed by an hour's pause, which only the abort can end.
    const waiting = retryUntilAvailable(
      'Redis',
      async () => {
        throw new Error('down');
      },
      {
        logger: {
          ...logger,
          warn: (o, m) => {
            logger.warn(o, m);
            setImmediate(() => stop.abort(reason));
          },
        },
        signal: stop.signal,
        backoff: { firstMs: 3_600_000, maxMs: 3_600_000, jitter: 0 },
      },
    );
    await expect(waiting).rejects.toBe(reason);
    expect(lines).toHaveLength(1);
  });

  it('does not start when already aborted', async () => {
    const { logger } = recordingLogger();
    let tries = 0;
    const reason = new Error('shutting down');
    await expect(
      retryUntilAvailable(
        'x',
        async () => {
          tries++;
        },
        { logger, signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
    expect(tries).toBe(0);
  });

  it('says a failure caused by shutdown is the shutdown, without a warning', async () => {
    const { logger, lines } = recordingLogger();
    const stop = new AbortController();
    const reason = new Error('shutting down');
    await expect(
      retryUntilAvailable(
        'NATS',
        async () => {
          stop.abort(reason);
          throw new Error('connection closed');
        },
        { logger, signal: stop.signal },
      ),
    ).rejects.toBe(reason);
    expect(lines).toEqual([]);
  });
});

describe('seconds', () => {
  it('reads as seconds with one decimal', () => {
    expect(seconds(4_000)).toBe('4.0 s');
    expect(seconds(27_345)).toBe('27.3 s');
  });
});
