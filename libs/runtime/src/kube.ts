// Riding out apiserver outages: one-off calls made at start (a Secret read, a pool applied)
// and informers (pod and node watches) wait while the apiserver is unreachable or answers
// 5xx, and give up only on answers that waiting cannot change (403, 404, 422, ...).
//
// A separate entry point (`@longshore/runtime/kube`): it loads client-node, which the
// claimer loads only when agent.customSecret asks for it. The namespace a service works in
// when the configuration names none is part of this entry for the same reason.
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { isNotFound, kubeErrorMessage, statusCodeOf } from '@longshore/kube';
import {
  type Backoff,
  backoffDelay,
  innermostMessage,
  pause,
  type RetryOptions,
  retryUntilAvailable,
  START_BACKOFF,
  seconds,
  type WaitLogger,
} from './retry.ts';

export { DEFAULT_NAMESPACE, ownNamespace, taskNamespace } from './namespace.ts';

/**
 * The apiserver could not answer: no HTTP answer at all (refused, reset, timed out, TLS torn
 * down: an error with a system or client error code, or a timeout), or 5xx, 429 or 408.
 * Other answers are the apiserver's considered reply, and other errors are bugs.
 */
export function isKubeUnavailable(err: unknown): boolean {
  const code = statusCodeOf(err);
  if (code !== undefined) return code >= 500 || code === 429 || code === 408;
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (typeof (e as { code?: unknown }).code === 'string') return true;
    if (e.name === 'AbortError' || e.name === 'TimeoutError') return true;
  }
  return false;
}

/** The apiserver's own words for an answer, the root cause for a failure to get one. */
export function describeKubeError(err: unknown): string {
  return statusCodeOf(err) === undefined ? innermostMessage(err) : kubeErrorMessage(err);
}

/** Runs a Kubernetes call until the apiserver answers it; an answer that is an error is thrown. */
export function retryKubeCall<T>(
  what: string,
  call: () => Promise<T>,
  opts: Omit<RetryOptions, 'isFatal' | 'describe'>,
): Promise<T> {
  return retryUntilAvailable(what, call, {
    ...opts,
    isFatal: (err) => !isKubeUnavailable(err),
    describe: describeKubeError,
  });
}

/**
 * A Secret's values as text. The apiserver returns them under `data`, base64-encoded;
 * `stringData` is write-only (the apiserver folds it into `data` on write and never
 * returns it), so a Secret read back has none, and one that had would not be what the
 * apiserver stores: it is not read.
 */
export function secretData(secret: V1Secret): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

export interface ReadSecretOptions extends Omit<RetryOptions, 'isFatal' | 'describe'> {
  /** Names the read in log lines; default "Secret <namespace>/<name>". */
  readonly what?: string;
}

/**
 * Reads a Secret's values (see secretData), or undefined when there is no such Secret. An
 * unreachable apiserver (or a 5xx) is waited for; any other answer (403, say) is thrown.
 */
export async function readSecretData(
  core: Pick<CoreV1Api, 'readNamespacedSecret'>,
  namespace: string,
  name: string,
  opts: ReadSecretOptions,
): Promise<Record<string, string> | undefined> {
  const { what = `Secret ${namespace}/${name}`, ...retry } = opts;
  try {
    return secretData(await retryKubeCall(what, () => core.readNamespacedSecret({ name, namespace }), retry));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** What keepInformer needs of a client-node informer (makeInformer's ListWatch). */
export interface RestartableInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(verb: 'error', cb: (err: unknown) => void): void;
}

export interface KeptInformer {
  /** Resolves once the first list has succeeded and the watch is open; rejects if stopped before. */
  readonly started: Promise<void>;
  /** Stops the informer and any pending restart. Idempotent. */
  stop(): Promise<void>;
}

export interface KeepInformerOptions {
  /** Names the watch in log lines, e.g. "the pod watch of ns via https://10.0.0.1:443". */
  readonly what: string;
  readonly logger: WaitLogger;
  readonly backoff?: Backoff;
}

/**
 * Starts an informer and keeps it running. client-node's ListWatch reports a failed list or
 * watch through its `error` callbacks (start() itself resolves) and then stays stopped; it
 * is started again here after a backoff pause, as often as it takes. Its list replays every
 * object as added or updated, so handlers see what changed while it was down.
 */
export function keepInformer(informer: RestartableInformer, opts: KeepInformerOptions): KeptInformer {
  const { what, logger } = opts;
  const backoff = opts.backoff ?? START_BACKOFF;
  const stopping = new AbortController();
  // While a start is in progress, its failure is collected here instead of scheduling a restart.
  let attempt: { failure?: unknown; failed: boolean } | undefined;
  let restarting = false;

  const startOnce = async (): Promise<void> => {
    const current: { failure?: unknown; failed: boolean } = { failed: false };
    attempt = current;
    try {
      await informer.start();
    } catch (err) {
      current.failed = true;
      current.failure = err;
    } finally {
      attempt = undefined;
    }
    // Stopped while this start was listing: client-node's ListWatch opens its watch once the
    // list returns without looking at stop() again, so close the watch it has just opened.
    // (stop() does not wait for the list, which has no deadline of its own.)
    if (stopping.signal.aborted) {
      await informer.stop();
      stopping.signal.throwIfAborted();
    }
    if (current.failed) throw current.failure;
  };
  const startUntilUp = () =>
    retryUntilAvailable(what, startOnce, {
      logger,
      signal: stopping.signal,
      backoff,
      describe: describeKubeError,
    });

  const restart = async (err: unknown) => {
    // The watch failed while it was running: pause as after a failed try, then start again.
    const ms = backoffDelay(1, backoff);
    logger.warn(
      { waiting_for: what, retry_in_ms: ms, reason: describeKubeError(err) },
      `${what} failed: ${describeKubeError(err)}; restarting in ${seconds(ms)}`,
    );
    restarting = true;
    try {
      await pause(ms, stopping.signal);
      await startUntilUp();
      logger.info({ waiting_for: what }, `${what} restarted`);
    } finally {
      restarting = false;
    }
  };

  informer.on('error', (err) => {
    if (attempt) {
      attempt.failed = true;
      attempt.failure = err;
      return;
    }
    if (stopping.signal.aborted || restarting) return;
    void restart(err).catch(() => undefined);
  });

  const started = startUntilUp();
  // The caller may never await `started` when it stops first; that rejection is expected.
  started.catch(() => undefined);
  let stopped: Promise<void> | undefined;
  return {
    started,
    stop: () => {
      stopped ??= (async () => {
        stopping.abort(new DOMException(`${what} stopped`, 'AbortError'));
        await informer.stop();
      })();
      return stopped;
    },
  };
}
