import { ApiException } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  describeKubeError,
  isKubeUnavailable,
  keepInformer,
  type RestartableInformer,
  readSecretData,
  retryKubeCall,
  secretData,
} from './kube.ts';
import type { WaitLogger } from './retry.ts';

const NO_WAIT = { firstMs: 1, maxMs: 1, jitter: 0 };
const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
const status = (code: number, reason: string, message: string) =>
  new ApiException(code, 'x', JSON.stringify({ kind: 'Status', code, reason, message }), {});

function recordingLogger() {
  const msgs: string[] = [];
  const logger: WaitLogger = { info: (_o, m) => msgs.push(m), warn: (_o, m) => msgs.push(m) };
  return { logger, msgs };
}

describe('isKubeUnavailable', () => {
  it('is true when the apiserver did not answer or answered 5xx, 429 or 408', () => {
    expect(isKubeUnavailable(refused())).toBe(true);
    expect(isKubeUnavailable(status(503, 'ServiceUnavailable', 'etcd is down'))).toBe(true);
    expect(isKubeUnavailable(status(429, 'TooManyRequests', 'slow down'))).toBe(true);
    expect(isKubeUnavailable(Object.assign(new Error('Internal Server Error'), { statusCode: 500 }))).toBe(
      true,
    );
  });

  it('is true for a connection torn down or timed out, however wrapped', () => {
    const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(isKubeUnavailable(new TypeError('fetch failed', { cause: reset }))).toBe(true);
    expect(isKubeUnavailable(new DOMException('timed out', 'TimeoutError'))).toBe(true);
  });

  it('is false for an error that is no failure to reach the apiserver (a bug)', () => {
    expect(isKubeUnavailable(new TypeError("Cannot read properties of undefined (reading 'items')"))).toBe(
      false,
    );
  });

  it('is false for an answer waiting cannot change', () => {
    expect(isKubeUnavailable(status(403, 'Forbidden', 'secrets "x" is forbidden'))).toBe(false);
    expect(isKubeUnavailable(status(404, 'NotFound', 'secrets "x" not found'))).toBe(false);
    expect(isKubeUnavailable(status(422, 'Invalid', 'bad'))).toBe(false);
  });
});

describe('describeKubeError', () => {
  it("gives the apiserver's message, or the network failure", () => {
    expect(describeKubeError(status(503, 'ServiceUnavailable', 'etcd is down'))).toBe('etcd is down');
    expect(describeKubeError(new TypeError('fetch failed', { cause: refused() }))).toBe(
      'connect ECONNREFUSED 127.0.0.1:6443',
    );
  });
});

describe('retryKubeCall', () => {
  it('waits out an unreachable apiserver, then returns the answer', async () => {
    const { logger, msgs } = recordingLogger();
    let calls = 0;
    const got = await retryKubeCall(
      'Secret ns/tokens',
      async () => {
        if (++calls < 3) throw refused();
        return 'secret';
      },
      { logger, backoff: NO_WAIT },
    );
    expect(got).toBe('secret');
    expect(msgs).toEqual([
      'waiting for Secret ns/tokens: connect ECONNREFUSED 127.0.0.1:6443; retrying in 0.0 s',
      'waiting for Secret ns/tokens: connect ECONNREFUSED 127.0.0.1:6443; retrying in 0.0 s',
      'Secret ns/tokens is available',
    ]);
  });

  it('throws an answer such as 403 at once', async () => {
    const { logger } = recordingLogger();
    const forbidden = status(403, 'Forbidden', 'nope');
    let calls = 0;
    await expect(
      retryKubeCall(
        'Secret ns/tokens',
        async () => {
          calls++;
          throw forbidden;
        },
        { logger, backoff: NO_WAIT },
      ),
    ).rejects.toBe(forbidden);
    expect(calls).toBe(1);
  });
});

/**
 * Behaves as client-node's ListWatch does: start() resolves even when the list fails, and
 * reports the failure through the error callbacks; a running watch's failure is reported
 * the same way later.
 */
class FakeInformer implements RestartableInformer {
  starts = 0;
  stops = 0;
  running = false;
  readonly failFirst: number;
  /** While set, a start's list waits for it; like ListWatch, the watch then opens whatever stop() said meanwhile. */
  listing: Promise<void> | undefined;
  #onError: ((err: unknown) => void)[] = [];
  constructor(failFirst: number) {
    this.failFirst = failFirst;
  }
  async start(): Promise<void> {
    this.starts++;
    if (this.starts <= this.failFirst) {
      for (const cb of this.#onError) cb(refused());
      return;
    }
    if (this.listing) await this.listing;
    this.running = true;
  }
  async stop(): Promise<void> {
    this.stops++;
    this.running = false;
  }
  on(_verb: 'error', cb: (err: unknown) => void): void {
    this.#onError.push(cb);
  }
  /** The open watch breaks (the apiserver went away). */
  breakWatch(): void {
    this.running = false;
    for (const cb of this.#onError) cb(refused());
  }
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

describe('keepInformer', () => {
  it('is started once the list succeeds, after waiting out failures', async () => {
    const { logger, msgs } = recordingLogger();
    const inf = new FakeInformer(2);
    const kept = keepInformer(inf, { what: 'the pod watch', logger, backoff: NO_WAIT });
    await kept.started;
    expect(inf.starts).toBe(3);
    expect(inf.running).toBe(true);
    expect(msgs.filter((m) => m.startsWith('waiting for the pod watch: connect ECONNREFUSED'))).toHaveLength(
      2,
    );
    await kept.stop();
  });

  it('restarts a watch that breaks while running, until it runs again', async () => {
    const { logger, msgs } = recordingLogger();
    const inf = new FakeInformer(0);
    const kept = keepInformer(inf, { what: 'the node watch', logger, backoff: NO_WAIT });
    await kept.started;
    inf.breakWatch();
    await until(() => inf.running);
    expect(inf.starts).toBe(2);
    await until(() => msgs.length === 2);
    expect(msgs).toEqual([
      'the node watch failed: connect ECONNREFUSED 127.0.0.1:6443; restarting in 0.0 s',
      'the node watch restarted',
    ]);
    await kept.stop();
  });

  it('stops waiting when stopped before the first list worked', async () => {
    const { logger } = recordingLogger();
    const inf = new FakeInformer(Number.POSITIVE_INFINITY);
    const kept = keepInformer(inf, {
      what: 'the pod watch',
      logger,
      backoff: { firstMs: 3_600_000, maxMs: 3_600_000, jitter: 0 },
    });
    await until(() => inf.starts === 1);
    await kept.stop();
    await expect(kept.started).rejects.toMatchObject({ name: 'AbortError' });
    expect(inf.starts).toBe(1);
  });

  it('does not restart after stop', async () => {
    const { logger, msgs } = recordingLogger();
    const inf = new FakeInformer(0);
    const kept = keepInformer(inf, { what: 'the pod watch', logger, backoff: NO_WAIT });
    await kept.started;
    await kept.stop();
    // A restart is decided in the error callback itself: none is logged, so none is coming.
    inf.breakWatch();
    expect(msgs).toEqual([]);
    expect(inf.stops).toBe(1);
  });

  describe('stopped while a restart is pending', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('never starts the informer again once its pause is over', async () => {
      // The pause before a restart is a timer (node:timers/promises): faked, so the test
      // can run the clock past it and see that nothing starts.
      vi.useFakeTimers({ fakeNodeBuiltins: true });
      const { logger, msgs } = recordingLogger();
      const inf = new FakeInformer(0);
      const kept = keepInformer(inf, {
        what: 'the pod watch',
        logger,
        backoff: { firstMs: 1_000, maxMs: 1_000, jitter: 0 },
      });
      await kept.started;
      inf.breakWatch();
      expect(msgs).toEqual([
        'the pod watch failed: connect ECONNREFUSED 127.0.0.1:6443; restarting in 1.0 s',
      ]);
      await kept.stop();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(inf.starts).toBe(1);
      expect(inf.running).toBe(false);
    });

    it('leaves no watch open when the restart was listing at stop()', async () => {
      const { logger } = recordingLogger();
      const inf = new FakeInformer(0);
      const kept = keepInformer(inf, { what: 'the pod watch', logger, backoff: NO_WAIT });
      await kept.started;
      let listed: () => void = () => {};
      inf.listing = new Promise((r) => {
        listed = r;
      });
      inf.breakWatch();
      await until(() => inf.starts === 2);
      await kept.stop();
      listed(); // the list answers after stop(): ListWatch opens its watch all the same
      await until(() => inf.running || inf.stops === 2);
      expect(inf.running).toBe(false);
    });
  });
});

describe('secretData', () => {
  it('decodes the base64 values the apiserver returns under data, as UTF-8', () => {
    const secret = {
      data: {
        token: Buffer.from('tok-123').toString('base64'),
        'config.yaml': Buffer.from('name: ünïcode\n').toString('base64'),
      },
    };
    expect(secretData(secret)).toEqual({ token: 'tok-123', 'config.yaml': 'name: ünïcode\n' });
    expect(secretData({})).toEqual({});
  });

  it('ignores stringData: write-only, folded into data by the apiserver and never read back', () => {
    const secret = {
      data: { token: Buffer.from('stored').toString('base64') },
      stringData: { token: 'not-stored', extra: 'not-stored' },
    };
    expect(secretData(secret)).toEqual({ token: 'stored' });
  });
});

describe('readSecretData', () => {
  const secretsOf = (answers: (() => unknown)[]) => {
    const asked: { name: string; namespace: string }[] = [];
    return {
      asked,
      core: {
        readNamespacedSecret: async (req: { name: string; namespace: string }) => {
          asked.push(req);
          const next = answers.shift();
          if (!next) throw new Error('no more answers');
          return next() as never;
        },
      },
    };
  };

  it('reads the named Secret, waiting out an apiserver that does not answer', async () => {
    const { logger, msgs } = recordingLogger();
    const { core, asked } = secretsOf([
      () => {
        throw refused();
      },
      () => ({ data: { token: Buffer.from('tok').toString('base64') } }),
    ]);
    expect(await readSecretData(core, 'ns', 'tokens', { logger, backoff: NO_WAIT })).toEqual({
      token: 'tok',
    });
    expect(asked).toEqual([
      { name: 'tokens', namespace: 'ns' },
      { name: 'tokens', namespace: 'ns' },
    ]);
    expect(msgs[0]).toMatch(/^waiting for Secret ns\/tokens: connect ECONNREFUSED/);
  });

  it('is undefined for a Secret that is not there, and throws any other answer', async () => {
    const { logger } = recordingLogger();
    const missing = secretsOf([
      () => {
        throw status(404, 'NotFound', 'secrets "tokens" not found');
      },
    ]);
    expect(await readSecretData(missing.core, 'ns', 'tokens', { logger })).toBeUndefined();
    const forbidden = secretsOf([
      () => {
        throw status(403, 'Forbidden', 'secrets "tokens" is forbidden');
      },
    ]);
    await expect(readSecretData(forbidden.core, 'ns', 'tokens', { logger })).rejects.toThrow(/forbidden/);
    expect(forbidden.asked).toHaveLength(1);
  });
});
