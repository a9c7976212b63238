// Latest-value status broadcasts (e.g. constraint status per resource class) in a NATS
// KV bucket: a late subscriber reads the current state instead of waiting for the next
// broadcast. Values are validated both ways like bus messages; a bucket belongs to a prefix.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { z } from 'zod';
import { decodePayload, encodePayload } from './codec.ts';
import { BusSetupError } from './errors.ts';
import type { BusLogger, BusMetrics } from './observe.ts';

export interface KvOptions {
  /** Values kept per key. Default 1. */
  history?: number;
  /** Entries older than this expire. Default: never. */
  ttlMs?: number;
}

export interface KvValue<T> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
  readonly time: Date;
}

/** A change seen by watch(); `value` is undefined when the key was deleted or purged. */
export interface KvChange<T> {
  readonly key: string;
  readonly value: T | undefined;
  readonly revision: number;
  readonly time: Date;
}

export interface BusKv<S extends z.ZodType> {
  /** The bucket's name on the server (`<prefix>_<bucket>`). */
  readonly bucket: string;
  /** Validates and stores a value; returns its revision. */
  put(key: string, value: z.input<S>): Promise<number>;
  /** The current value, or undefined when absent, deleted or invalid (logged and counted). */
  get(key: string): Promise<KvValue<z.output<S>> | undefined>;
  delete(key: string): Promise<void>;
  /** Keys that currently hold a value (for one-shot readers such as `longshore status`). */
  keys(): Promise<string[]>;
  /** Current values of matching keys first, then every change, until `signal` aborts. */
  watch(opts?: { key?: string; signal?: AbortSignal }): AsyncIterable<KvChange<z.output<S>>>;
}

export interface KvDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Copies of the bucket (the bus's `replicas`); unset: 1 when created, else as it is. */
  replicas?: number;
  prefix: string;
  logger: BusLogger;
  metrics: BusMetrics;
}

const BUCKET_RE = /^[A-Za-z0-9_-]+$/;

export async function openKv<S extends z.ZodType>(
  deps: KvDeps,
  bucket: string,
  schema: S,
  opts: KvOptions = {},
): Promise<BusKv<S>> {
  if (!BUCKET_RE.test(bucket))
    throw new BusSetupError(`kv bucket "${bucket}" must be letters, digits, '_' or '-'`);
  const name = `${deps.prefix}_${bucket}`;
  let kv: KV;
  try {
    kv = await new Kvm(deps.js).create(name, {
      history: opts.history ?? 1,
      ...(opts.ttlMs === undefined ? {} : { ttl: opts.ttlMs }),
      ...(deps.replicas === undefined ? {} : { replicas: deps.replicas }),
    });
    // create() leaves an existing bucket as it is: a bucket made before the deployment
    // moved to a cluster (or by a reader without a replica count) would stay at one copy.
    if (deps.replicas !== undefined) {
      const status = await kv.status();
      if (status.replicas !== deps.replicas)
        await deps.jsm.streams.update(status.streamInfo.config.name, { num_replicas: deps.replicas });
    }
  } catch (err) {
    throw new BusSetupError(`cannot open kv bucket ${name}`, { cause: err });
  }
  const decode = (key: string, revision: number, data: Uint8Array): z.output<S> | undefined => {
    const d = decodePayload(schema, data);
    if (d.ok) return d.payload;
    const where = `kv.${name}.${key}`;
    deps.logger.warn(
      { bucket: name, key, revision, size: data.length, reason: d.reason, issues: d.issues },
      'invalid kv value',
    );
    deps.metrics.rejected?.(where, d.reason);
    return undefined;
  };
  return {
    bucket: name,
    put: async (key, value) => kv.put(key, encodePayload(schema, `kv ${name} ${key}`, value)),
    async get(key) {
      const e = await kv.get(key);
      if (e === null || e.operation !== 'PUT') return undefined;
      const value = decode(key, e.revision, e.value);
      return value === undefined ? undefined : { key, value, revision: e.revision, time: e.created };
    },
    delete: (key) => kv.delete(key),
    async keys() {
      const out: string[] = [];
      for await (const k of await kv.keys()) out.push(k);
      return out;
    },
    async *watch(w = {}) {
      if (w.signal?.aborted) return;
      const iter = await kv.watch({ key: w.key ?? '>' });
      const abort = () => iter.stop();
      w.signal?.addEventListener('abort', abort, { once: true });
      try {
        for await (const e of iter) {
          const base = { key: e.key, revision: e.revision, time: e.created };
          if (e.operation !== 'PUT') {
            yield { ...base, value: undefined };
            continue;
          }
          const value = decode(e.key, e.revision, e.value);
          if (value !== undefined) yield { ...base, value };
        }
      } finally {
        w.signal?.removeEventListener('abort', abort);
        iter.stop();
      }
    },
  };
}
