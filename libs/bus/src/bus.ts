// The bus: one NATS connection per process, through which services publish and receive
// the events spelled in @longshore/contracts, validated both ways. Durable subjects go
// through JetStream (deduplicated by message id); the rest are core-NATS broadcasts.
import {
  type AnySubjectDef,
  assertPrefix,
  type SubjectDef,
  streamName,
  subjectFor,
} from '@longshore/contracts';
import { type JetStreamClient, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { z } from 'zod';
import { encodePayload } from './codec.ts';
import { type ConsumeOptions, type ConsumerHandle, startConsumer } from './consumer.ts';
import { BusClosedError, BusError, BusPublishError, BusSetupError } from './errors.ts';
import type { ReplayedEvent } from './events.ts';
import { type BusKv, type KvOptions, openKv } from './kv.ts';
import { type BusLogger, type BusMetrics, errorFields, stderrLogger } from './observe.ts';
import { type ReplayOptions, replayEvents } from './replay.ts';
import { ensureStream, type StreamOptions, streamConfig } from './stream.ts';
import { type EventHandler, type SubscriptionHandle, startSubscription } from './subscriber.ts';

export interface BusOptions {
  /** NATS URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Subject prefix; every subject, the stream and KV buckets are scoped by it. */
  prefix: string;
  /** Connection name the server shows (service and replica). */
  name: string;
  /**
   * Copies JetStream keeps of the event stream and of the KV buckets this bus creates
   * (config `bus.replicas`): 3 on a three-node cluster. Unset, for readers such as the CLI:
   * what they create gets 1 and what exists is left as it is.
   */
  replicas?: number;
  logger?: BusLogger;
  metrics?: BusMetrics;
}

export interface PublishOptions {
  /**
   * Required for durable subjects: the server drops a second publish with the same id
   * within the stream's duplicate window. Build it from task id + attempt + event.
   */
  msgId?: string;
  /** How long to wait for the stream's acknowledgement. Default: the client's (5 s). */
  timeoutMs?: number;
}

/** `seq` is the stream sequence (undefined for core broadcasts); `duplicate` = dropped as a repeat. */
export interface PublishResult {
  readonly seq: number | undefined;
  readonly duplicate: boolean;
}

export interface CloseOptions {
  /** How long to wait for running handlers before closing anyway. Default 10 s. */
  graceMs?: number;
}

export interface Bus {
  readonly prefix: string;
  /** Name of the prefix's event stream. */
  readonly stream: string;
  /**
   * Creates or updates the event stream, with the bus's replicas unless `opts` says
   * otherwise. Idempotent; every service may call it at start.
   */
  ensureStream(opts?: StreamOptions): Promise<void>;
  /** Validates and sends; throws BusSecretError, BusValidationError or BusPublishError. */
  publish<D extends SubjectDef>(
    def: D,
    payload: z.input<D['schema']>,
    opts?: PublishOptions,
  ): Promise<PublishResult>;
  /** Starts a durable consumer of one or more durable subjects. */
  consume<D extends SubjectDef>(defs: D | readonly D[], opts: ConsumeOptions<D>): Promise<ConsumerHandle>;
  /** Live core-NATS subscription to definitions, or to a filter under the prefix (`task.>`). */
  subscribe<D extends SubjectDef>(defs: D | readonly D[], handler: EventHandler<D>): SubscriptionHandle;
  subscribe(filter: string, handler: EventHandler<AnySubjectDef>): SubscriptionHandle;
  /** Events stored since a time, in order; then live ones too with `follow`. */
  replay(opts: ReplayOptions): AsyncIterable<ReplayedEvent<AnySubjectDef>>;
  /**
   * A validated KV bucket under the prefix, created if missing; with the bus's replicas
   * set, an existing bucket is brought to that many.
   */
  kv<S extends z.ZodType>(bucket: string, schema: S, opts?: KvOptions): Promise<BusKv<S>>;
  /**
   * Whether the connection is up now: false from a disconnect until the reconnect, and once
   * closed. Cheap enough for every readiness probe.
   */
  connected(): boolean;
  /**
   * Resolves when the connection is closed for good: with undefined after close(), with
   * the error when NATS gave up on it (a service should then exit and be restarted).
   */
  closed(): Promise<Error | undefined>;
  /** Stops consumers and subscriptions, drains and closes. Idempotent; runs every step. */
  close(opts?: CloseOptions): Promise<void>;
}

export async function connectBus(opts: BusOptions): Promise<Bus> {
  try {
    assertPrefix(opts.prefix);
  } catch (err) {
    throw new BusSetupError(`invalid bus prefix "${opts.prefix}"`, { cause: err });
  }
  let nc: NatsConnection;
  try {
    // Reconnect forever: a service outlives a NATS restart instead of dying with it. The
    // first connect is tried once: callers that must wait for NATS retry it themselves
    // (@longshore/runtime, with a log line per try), and `longshore tap` should fail fast.
    nc = await connect({
      servers: opts.servers,
      name: opts.name,
      maxReconnectAttempts: -1,
      // Otherwise every request, and so every JetStream publish, builds an Error up front
      // (stack trace included) in case it times out: a second of the scheduler's CPU per
      // 1000 tasks in a profile. A timeout still fails with its own error and message.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new BusSetupError(`cannot connect to NATS at ${redact(opts.servers)}`, { cause: err });
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new BusSetupError(`JetStream is not available at ${redact(opts.servers)}`, { cause: err });
  }
  return new NatsBus(nc, jsm, opts);
}

/** Hides credentials in URLs such as nats://user:pass@host. */
function redact(servers: string | string[]): string {
  return [servers]
    .flat()
    .map((s) => s.replace(/\/\/[^@/]*@/, '//***@'))
    .join(',');
}

class NatsBus implements Bus {
  readonly prefix: string;
  readonly stream: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #logger: BusLogger;
  readonly #metrics: BusMetrics;
  readonly #replicas: number | undefined;
  /** Everything close() must stop before draining. */
  readonly #handles = new Set<{ stop(): Promise<void> }>();
  readonly #watchStatus: Promise<void>;
  #closing: Promise<void> | undefined;
  #disconnected = false;

  constructor(nc: NatsConnection, jsm: JetStreamManager, opts: BusOptions) {
    this.prefix = opts.prefix;
    this.stream = streamName(opts.prefix);
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jsm.jetstream();
    this.#logger = opts.logger ?? stderrLogger();
    this.#metrics = opts.metrics ?? {};
    this.#replicas = opts.replicas;
    this.#watchStatus = this.#logStatus();
  }

  async ensureStream(opts?: StreamOptions): Promise<void> {
    this.#assertOpen();
    const replicas = opts?.replicas ?? this.#replicas;
    return ensureStream(
      this.#jsm,
      streamConfig(this.prefix, { ...opts, ...(replicas === undefined ? {} : { replicas }) }),
    );
  }

  async publish<D extends SubjectDef>(
    def: D,
    payload: z.input<D['schema']>,
    opts: PublishOptions = {},
  ): Promise<PublishResult> {
    this.#assertOpen();
    const subject = subjectFor(this.prefix, def);
    const started = performance.now();
    let result: PublishResult;
    try {
      result = await this.#send(def, subject, payload, opts);
    } catch (err) {
      this.#metrics.published?.(subject, 'error', performance.now() - started);
      throw err;
    }
    this.#metrics.published?.(subject, 'ok', performance.now() - started);
    return result;
  }

  /** Validates and sends one publish (see publish). */
  async #send<D extends SubjectDef>(
    def: D,
    subject: string,
    payload: z.input<D['schema']>,
    opts: PublishOptions,
  ): Promise<PublishResult> {
    const data = encodePayload(def.schema, subject, payload);
    if (!def.durable) {
      try {
        this.#nc.publish(subject, data);
      } catch (err) {
        throw new BusPublishError(`cannot publish ${subject}`, { cause: err });
      }
      return { seq: undefined, duplicate: false };
    }
    if (!opts.msgId) throw new BusPublishError(`${subject} is durable: publish it with a msgId`);
    try {
      const ack = await this.#js.publish(subject, data, {
        msgID: opts.msgId,
        expect: { streamName: this.stream },
        ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs }),
      });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw new BusPublishError(`stream ${this.stream} did not accept ${subject}`, { cause: err });
    }
  }

  async consume<D extends SubjectDef>(
    defs: D | readonly D[],
    opts: ConsumeOptions<D>,
  ): Promise<ConsumerHandle> {
    this.#assertOpen();
    const list: readonly D[] = isList(defs) ? defs : [defs];
    const handle = await startConsumer(this.#deps(), list, opts);
    if (this.#closing !== undefined) {
      // close() began while the consumer was being set up, and could not stop it.
      await handle.stop();
      throw new BusClosedError();
    }
    return this.#track(handle);
  }

  subscribe<D extends SubjectDef>(
    target: D | readonly D[] | string,
    handler: EventHandler<D> | EventHandler<AnySubjectDef>,
  ): SubscriptionHandle {
    this.#assertOpen();
    return this.#track(startSubscription(this.#deps(), target, handler));
  }

  replay(opts: ReplayOptions): AsyncIterable<ReplayedEvent<AnySubjectDef>> {
    this.#assertOpen();
    return replayEvents(this.#deps(), opts);
  }

  async kv<S extends z.ZodType>(bucket: string, schema: S, opts?: KvOptions): Promise<BusKv<S>> {
    this.#assertOpen();
    return openKv(
      { ...this.#deps(), ...(this.#replicas === undefined ? {} : { replicas: this.#replicas }) },
      bucket,
      schema,
      opts,
    );
  }

  connected(): boolean {
    return !this.#disconnected && !this.#nc.isClosed();
  }

  async closed(): Promise<Error | undefined> {
    return (await this.#nc.closed()) ?? undefined;
  }

  close(opts: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(opts.graceMs ?? 10_000);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    const failures: unknown[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        failures.push(err);
        this.#logger.warn({ step: what, ...errorFields(err) }, 'bus close step failed');
      }
    };
    // 1. Stop pulling and let running handlers finish (and ack) while the connection is up.
    await step('stop handlers', async () => {
      const stops = Promise.allSettled([...this.#handles].map((h) => h.stop()));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), graceMs);
      });
      const r = await Promise.race([stops, late]);
      clearTimeout(timer);
      // Unfinished handlers' messages are not acked, so the server redelivers them.
      if (r === 'late') this.#logger.warn({ graceMs }, 'closing with handlers still running');
    });
    // 2. Flush what was published and close; 3. make sure it is closed even if drain failed.
    await step('drain', () => this.#nc.drain());
    await step('close', () => (this.#nc.isClosed() ? Promise.resolve() : this.#nc.close()));
    await step('status', () => this.#watchStatus);
    if (failures.length > 0)
      throw new BusError('bus closed with errors', { cause: new AggregateError(failures) });
  }

  #track<H extends { stop(): Promise<void> }>(handle: H): H {
    this.#handles.add(handle);
    const stop = handle.stop.bind(handle);
    return {
      ...handle,
      stop: () => {
        this.#handles.delete(handle);
        return stop();
      },
    };
  }

  #deps() {
    return {
      nc: this.#nc,
      js: this.#js,
      jsm: this.#jsm,
      stream: this.stream,
      prefix: this.prefix,
      logger: this.#logger,
      metrics: this.#metrics,
      isClosed: () => this.#nc.isClosed(),
    };
  }

  #assertOpen(): void {
    if (this.#closing !== undefined || this.#nc.isClosed()) throw new BusClosedError();
  }

  async #logStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        this.#disconnected = true;
        this.#logger.warn({ server: s.server }, 'NATS disconnected');
      } else if (s.type === 'reconnect') {
        this.#disconnected = false;
        this.#logger.info({ server: s.server }, 'NATS reconnected');
      } else if (s.type === 'error') this.#logger.error(errorFields(s.error), 'NATS error');
      else if (s.type === 'slowConsumer')
        this.#logger.warn({ subject: s.sub.getSubject(), pending: s.pending }, 'NATS slow consumer');
    }
  }
}

function isList<T>(v: T | readonly T[]): v is readonly T[] {
  return Array.isArray(v);
}
