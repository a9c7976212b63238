// The one shutdown routine every main.ts ends in. Components register a closer as they are
// created; on a signal (or a fatal error) the closers run in reverse order, so loops stop
// before the clients they use are closed. Every closer runs even if an earlier one fails,
// the whole is bounded by a timeout so a stuck closer cannot outlive Kubernetes' grace
// period, and an AbortSignal tells long-running loops to stop taking new work (draining).
import type { KitLogger } from './logger.ts';

export type Closer = () => unknown;

export interface ShutdownOptions {
  readonly logger: KitLogger;
  /**
   * Longest the closers may take together before shutdown gives up on them. Default 25 s:
   * inside Kubernetes' default 30 s grace period, so we exit before SIGKILL.
   */
  readonly timeoutMs?: number;
  /** How the signal handlers end the process; replaced in tests. */
  readonly exit?: (code: number) => void;
}

export interface ShutdownResult {
  readonly reason: string;
  /** No closer failed and none was still running at the timeout. */
  readonly ok: boolean;
  /** Names of the closers that threw or rejected. */
  readonly failed: readonly string[];
  readonly timedOut: boolean;
}

export interface Shutdown {
  /** Aborted (with an AbortError) the moment shutdown begins. */
  readonly signal: AbortSignal;
  readonly started: boolean;
  /**
   * Registers a closer. Added after shutdown began (a component still starting when the
   * signal came), it is run at once rather than leaked.
   */
  add(name: string, close: Closer): void;
  /** Runs the closers once; later calls return the same promise. */
  run(reason: string): Promise<ShutdownResult>;
  /**
   * On the first of `signals`, runs the closers and exits 0 (1 if a closer failed or the
   * timeout hit). Further signals are logged while the first shutdown continues. Returns
   * a function that removes the handlers.
   */
  installSignalHandlers(signals?: readonly NodeJS.Signals[]): () => void;
}

const DEFAULT_TIMEOUT_MS = 25_000;

export function createShutdown(options: ShutdownOptions): Shutdown {
  const { logger } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const closers: { name: string; close: Closer }[] = [];
  const controller = new AbortController();
  let running: Promise<ShutdownResult> | undefined;

  async function closeAll(reason: string): Promise<ShutdownResult> {
    const failed: string[] = [];
    let current: string | undefined;
    const sequence = (async () => {
      for (const { name, close } of [...closers].reverse()) {
        current = name;
        try {
          await close();
        } catch (err) {
          failed.push(name);
          logger.error({ err, closer: name }, 'closer failed');
        }
      }
      current = undefined;
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([sequence.then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    const timedOut = outcome === 'timeout';
    if (timedOut)
      logger.error({ timeoutMs, closer: current }, 'shutdown timed out; abandoning the remaining closers');
    const result: ShutdownResult = {
      reason,
      ok: failed.length === 0 && !timedOut,
      failed: [...failed],
      timedOut,
    };
    logger.info({ reason, failed: result.failed, timedOut }, 'shutdown complete');
    return result;
  }

  const shutdown: Shutdown = {
    signal: controller.signal,
    get started() {
      return running !== undefined;
    },
    add(name, close) {
      if (running === undefined) {
        closers.push({ name, close });
        return;
      }
      logger.warn({ closer: name }, 'closer added during shutdown; running it now');
      void (async () => {
        try {
          await close();
        } catch (err) {
          logger.error({ err, closer: name }, 'closer failed');
        }
      })();
    },
    run(reason) {
      if (running === undefined) {
        logger.info({ reason }, 'shutting down');
        controller.abort(new DOMException(`shutting down: ${reason}`, 'AbortError'));
        running = closeAll(reason);
      }
      return running;
    },
    installSignalHandlers(signals = ['SIGTERM', 'SIGINT']) {
      const onSignal = (signal: NodeJS.Signals) => {
        if (running !== undefined) {
          logger.warn({ signal }, 'already shutting down; still waiting for the closers');
          return;
        }
        void shutdown.run(`signal ${signal}`).then((r) => exit(r.ok ? 0 : 1));
      };
      for (const s of signals) process.on(s, onSignal);
      return () => {
        for (const s of signals) process.off(s, onSignal);
      };
    },
  };
  return shutdown;
}
