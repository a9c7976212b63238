// A durable pull consumer on the event stream: the task pipeline's way of receiving
// events at least once. Each message is decoded and validated, handed to the handler, and
// acked only after the handler resolves (its side effect is durable by then). A message
// the handler cannot take is nak'd with a delay; one that can never be handled (not JSON,
// wrong shape, retries exhausted) is term'd so it cannot wedge the consumer.
import { type SubjectDef, subjectFor } from '@longshore/contracts';
import {
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { decodePayload } from './codec.ts';
import {
  DEFAULT_RETRY_BACKOFF_MS,
  durableConsumerConfig,
  type HandlerOutcome,
  type StartFrom,
  settlementFor,
} from './consumer-policy.ts';
import { BusSetupError } from './errors.ts';
import type { Delivery, HandlerResult } from './events.ts';
import { filterSubjectFor } from './filters.ts';
import { type BusLogger, type BusMetrics, errorFields, type HandledOutcome } from './observe.ts';

export interface ConsumeOptions<D extends SubjectDef> {
  /** Durable consumer name, shared by every replica of a service (they split the work). */
  durable: string;
  /**
   * Decides each message's fate (see HandlerResult); throwing = retry after a backoff.
   * Always async: with a `R | Promise<R>` return type TypeScript widens the literal in
   * `async () => 'ack'` to string and rejects the handler.
   */
  handler: (delivery: Delivery<D>) => Promise<HandlerResult>;
  /** Messages handled at once by this process. Default 1 (in stream order). */
  concurrency?: number;
  /** Deliveries before a message is given up (term'd). Default 10. */
  maxDeliver?: number;
  /**
   * How long the server waits for an ack before redelivering. While a handler runs the
   * bus tells the server it is still working, so this bounds how fast a crashed process's
   * messages move on, not how long a handler may take. Default 30 s.
   */
  ackWaitMs?: number;
  /** Delays after a handler throws, by delivery (the last repeats). */
  retryBackoffMs?: readonly number[];
  /** Where a newly created durable starts. Default 'all' (every event still kept). */
  from?: StartFrom;
}

export interface ConsumerHandle {
  readonly durable: string;
  /** The one filter subject used on the server (see filterSubjectFor). */
  readonly filterSubject: string;
  /**
   * Stops pulling, gives back buffered messages, and waits for running handlers. A message
   * the server sent just as the pull was cancelled never reaches the client; the server
   * hands it out again once its ack wait runs out.
   */
  stop(): Promise<void>;
}

export interface ConsumerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  logger: BusLogger;
  metrics: BusMetrics;
  isClosed(): boolean;
}

// err_code of "consumer already exists" with a different config (2.10+; 2.9 updates in place).
const CONSUMER_EXISTS_CODES = new Set([10013, 10148]);
// Consumer notifications worth a warning; the rest are routine protocol chatter.
const WARN_STATUS = new Set([
  'heartbeats_missed',
  'consumer_not_found',
  'stream_not_found',
  'consumer_deleted',
]);
const RESTART_DELAY_MS = 1_000;

/** Creates or updates the durable on the server, then starts handling messages. */
export async function startConsumer<D extends SubjectDef>(
  deps: ConsumerDeps,
  defs: readonly D[],
  opts: ConsumeOptions<D>,
): Promise<ConsumerHandle> {
  const filterSubject = filterSubjectFor(deps.prefix, defs);
  const config = durableConsumerConfig({
    durable: opts.durable,
    filterSubject,
    maxDeliver: opts.maxDeliver ?? 10,
    ackWaitMs: opts.ackWaitMs ?? 30_000,
    from: opts.from ?? 'all',
  });
  await ensureDurable(deps.jsm, deps.stream, config);
  let consumer: Consumer;
  try {
    consumer = await deps.js.consumers.get(deps.stream, opts.durable);
  } catch (err) {
    throw new BusSetupError(`cannot bind consumer ${opts.durable} on ${deps.stream}`, { cause: err });
  }
  const bySubject = new Map<string, D>(defs.map((d) => [subjectFor(deps.prefix, d), d]));
  const loop = new DurableLoop(deps, consumer, bySubject, opts, filterSubject);
  return { durable: opts.durable, filterSubject, stop: () => loop.stop() };
}

async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig>,
): Promise<void> {
  const name = config.durable_name!;
  try {
    await jsm.consumers.add(stream, config);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && CONSUMER_EXISTS_CODES.has(err.code))) {
      throw new BusSetupError(`cannot create consumer ${name} on ${stream}`, { cause: err });
    }
    const { durable_name: _n, ack_policy: _a, deliver_policy: _d, ...changeable } = config;
    try {
      await jsm.consumers.update(stream, name, changeable);
    } catch (cause) {
      throw new BusSetupError(`consumer ${name} on ${stream} exists with a config that cannot be updated`, {
        cause,
      });
    }
  }
}

class DurableLoop<D extends SubjectDef> {
  readonly #deps: ConsumerDeps;
  readonly #consumer: Consumer;
  readonly #bySubject: Map<string, D>;
  readonly #opts: ConsumeOptions<D>;
  readonly #filter: string;
  readonly #concurrency: number;
  readonly #maxDeliver: number;
  readonly #ackWaitMs: number;
  readonly #inflight = new Set<Promise<void>>();
  readonly #done: Promise<void>;
  #stopping = false;
  #messages: ConsumerMessages | undefined;
  /** Resolves on stop(): wakes the restart delay, and a loop waiting for a free handler slot. */
  readonly #stopped: Promise<void>;
  #signalStop: () => void = () => {};

  constructor(
    deps: ConsumerDeps,
    consumer: Consumer,
    bySubject: Map<string, D>,
    opts: ConsumeOptions<D>,
    filter: string,
  ) {
    this.#deps = deps;
    this.#consumer = consumer;
    this.#bySubject = bySubject;
    this.#opts = opts;
    this.#filter = filter;
    this.#concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.#maxDeliver = opts.maxDeliver ?? 10;
    this.#ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.#stopped = new Promise((resolve) => {
      this.#signalStop = resolve;
    });
    this.#done = this.#run();
  }

  stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#messages?.stop();
      this.#signalStop();
    }
    return this.#done;
  }

  async #run(): Promise<void> {
    const { logger } = this.#deps;
    // Restarts the pull after a failure; ends on stop() or when the connection is closed.
    while (!this.#stopping && !this.#deps.isClosed()) {
      try {
        await this.#pull();
        if (this.#stopping || this.#deps.isClosed()) break;
        logger.warn({ durable: this.#opts.durable }, 'consumer ended unexpectedly; restarting');
      } catch (err) {
        if (this.#stopping || this.#deps.isClosed()) break;
        logger.error({ durable: this.#opts.durable, ...errorFields(err) }, 'consumer failed; restarting');
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#stopped,
        new Promise((resolve) => {
          timer = setTimeout(resolve, RESTART_DELAY_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    await Promise.allSettled(this.#inflight);
  }

  async #pull(): Promise<void> {
    // A small client-side buffer: buffered messages are not being worked on, yet their ack
    // wait runs, so keep it to what the handlers will take next.
    // Pull requests that expire after 5 s rather than nats.js's 30 s: a pull sent to a
    // consumer leader that then dies is only noticed when it expires, and on a three-node
    // cluster that was most of a 40 s stall after a node was killed (8 s at most with this).
    const messages = await this.#consumer.consume({ max_messages: 2 * this.#concurrency, expires: 5_000 });
    this.#messages = messages;
    if (this.#stopping) messages.stop();
    void this.#watchStatus(messages);
    for await (const m of messages) {
      if (this.#stopping) {
        // Buffered but not started: hand it back now rather than after the ack wait.
        this.#settle(m, () => m.nak());
        continue;
      }
      const p: Promise<void> = this.#handle(m).finally(() => this.#inflight.delete(p));
      this.#inflight.add(p);
      // On stop, go on at once to hand back what is buffered while the handlers finish.
      if (this.#inflight.size >= this.#concurrency) await Promise.race([...this.#inflight, this.#stopped]);
    }
  }

  async #watchStatus(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (WARN_STATUS.has(s.type))
        this.#deps.logger.warn({ durable: this.#opts.durable, status: s.type }, 'consumer status');
    }
  }

  async #handle(m: JsMsg): Promise<void> {
    const { logger, metrics } = this.#deps;
    const started = performance.now();
    const outcome = (o: HandledOutcome) => metrics.handled?.(m.subject, o, performance.now() - started);
    const where = { durable: this.#opts.durable, subject: m.subject, seq: m.seq };
    const def = this.#bySubject.get(m.subject);
    if (def === undefined) {
      // Matched the shared wildcard filter but belongs to another consumer's subjects.
      this.#settle(m, () => m.ack());
      outcome('skipped');
      return;
    }
    const decoded = decodePayload(def.schema, m.data);
    if (!decoded.ok) {
      // No content in the log: a malformed message may be anything, secrets included.
      logger.warn(
        { ...where, size: m.data.length, reason: decoded.reason, issues: decoded.issues },
        'dropping malformed message',
      );
      metrics.rejected?.(m.subject, decoded.reason);
      this.#settle(m, () => m.term());
      return;
    }
    // TS cannot check a value against the distributive Delivery<D> for a generic D; the
    // name, def and payload all come from the same `def`, which is what the type states.
    const delivery = {
      name: def.name,
      def,
      subject: m.subject,
      payload: decoded.payload,
      seq: m.seq,
      time: m.time,
      redelivered: m.info.deliveryCount - 1,
      msgId: m.headers?.get('Nats-Msg-Id') || undefined,
    } as unknown as Delivery<D>;
    // Tell the server we are alive while the handler runs, so a slow handler is not
    // redelivered to another replica mid-way.
    const keepAlive = setInterval(
      () => this.#settle(m, () => m.working()),
      Math.max(this.#ackWaitMs / 2, 100),
    );
    let answer: HandlerOutcome;
    try {
      answer = { ok: true, result: await this.#opts.handler(delivery) };
    } catch (error) {
      answer = { ok: false, error };
    } finally {
      clearInterval(keepAlive);
    }
    const deliveries = m.info.deliveryCount;
    const s = settlementFor(
      answer,
      deliveries,
      this.#maxDeliver,
      this.#opts.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS,
    );
    if (s.action === 'ack') {
      this.#settle(m, () => m.ack());
      outcome('ack');
    } else if (s.action === 'term') {
      if (s.why === 'exhausted') {
        logger.error(
          { ...where, deliveries, ...(s.failed ? errorFields(failureOf(answer)) : {}) },
          'retries exhausted; giving up',
        );
      } else {
        logger.info(where, 'handler gave up on message');
      }
      this.#settle(m, () => m.term());
      outcome(s.failed ? 'error' : 'term');
    } else {
      if (s.failed)
        logger.warn(
          { ...where, retryInMs: s.delayMs, ...errorFields(failureOf(answer)) },
          'handler failed; will retry',
        );
      this.#settle(m, () => m.nak(s.delayMs));
      outcome(s.failed ? 'error' : 'nak');
    }
  }

  /**
   * Acks and friends publish on the connection; after close() that throws, harmlessly.
   * Note every term() here is without a reason: nats-server 2.9.10 does not recognise
   * `+TERM <reason>` and redelivers the message as if it had not been answered.
   */
  #settle(m: JsMsg, act: () => void): void {
    try {
      act();
    } catch (err) {
      this.#deps.logger.debug(
        { durable: this.#opts.durable, filter: this.#filter, seq: m.seq, ...errorFields(err) },
        'could not settle message',
      );
    }
  }
}

/** The error to log for a failed handler: what it threw, or what was wrong with its answer. */
function failureOf(answer: HandlerOutcome): unknown {
  if (!answer.ok) return answer.error;
  const r = answer.result;
  return new TypeError(
    `handler answered ${typeof r === 'string' ? `'${r}'` : typeof r}, not 'ack', 'term' or {nak}`,
  );
}
