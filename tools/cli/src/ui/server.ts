// `longshore ui`: the fleet page. Reads the bus (the event stream, replayed over the window
// and then followed, and the status buckets) and, when given their URLs, the services'
// /metrics; keeps it all in a FleetView and serves it to browsers:
//
//   event stream ─┐
//   KV buckets ───┼─> FleetView ──snapshot, at most once a second──> /api/stream (SSE)
//   /metrics ─────┘                                     /api/snapshot, /api/tasks/:id
//
// It writes nothing anywhere: no publish, no key, no Kubernetes call (opening a status
// bucket that does not exist yet creates it empty, as `longshore status` does). The page
// is three static files (fleet-page/), with no build step and nothing fetched from
// elsewhere: the content security policy allows this server only.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { type Bus, connectBus, type KvOptions } from '@longshore/bus';
import { natsServers } from '@longshore/config';
import {
  CLAIM_STATE_KV_BUCKET,
  CLAIM_STATE_TTL_MS,
  ClaimState,
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  POD_CHECK_KV_BUCKET,
  PodCheckResult,
} from '@longshore/contracts';
import { type EveryOptions, every, innermostMessage, type Periodic } from '@longshore/runtime';
import { metricSamples } from '@longshore/runtime/stages';
import Fastify, { type FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { busWarnings, DEFAULT_PREFIX, defaultNatsUrl } from '../tap.ts';
import { type FleetSnapshot, FleetView, type ViewEvent } from './fleet-view.ts';

export interface FleetPageOptions {
  /** Read through this open bus (not closed here); without one, connect to `natsUrl`. */
  bus?: Bus;
  /** Default: $NATS_URL, then the test bed's, then localhost. */
  natsUrl?: string;
  /** Default `longshore`. */
  prefix?: string;
  /** Default 127.0.0.1: the page is for whoever can reach this address. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** The services' /metrics URLs, polled for in-flight counts, caps and ready VMs. */
  metricsUrls?: readonly string[];
  /** How far back the page reaches (replayed at start). Default 15 minutes. */
  windowMs?: number;
  /** Lines about what the page could not read (a bucket, the stream). */
  warn?: (line: string) => void;
}

export interface FleetPage {
  /** Where the page is: `http://host:port/`. */
  readonly url: string;
  /** Stops reading and serving; closes the bus if it opened it. Idempotent. */
  close(): Promise<void>;
}

/** What the page gets: the view, and whether the bus is reachable now. */
export type PageSnapshot = FleetSnapshot & { bus: { connected: boolean } };

export const DEFAULT_WINDOW_MS = 15 * 60_000;
const METRICS_EVERY_MS = 2_000;
/** Pause before a reader starts again after it ended (longer after failures in a row). */
const RESTART_MS = 2_000;
const METRICS_TIMEOUT_MS = 1_500;
const PUSH_EVERY_MS = 1_000;
/** What one browser may leave unread before it is cut off (a few snapshots). */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** Sent even when nothing changed, so that a proxy keeps the stream open. */
const KEEPALIVE_MS = 15_000;

const PAGE_FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
} as const;

/** Only this server, and inline data for the icon: no asset from elsewhere, no inline script. */
const CSP =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export async function startFleetPage(options: FleetPageOptions = {}): Promise<FleetPage> {
  const warn = options.warn ?? (() => {});
  const files = new Map(
    Object.entries(PAGE_FILES).map(([path, [file, type]]) => [
      path,
      { body: readFileSync(new URL(`./fleet-page/${file}`, import.meta.url), 'utf8'), type },
    ]),
  );
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const view = new FleetView({ windowMs });
  const bus =
    options.bus ??
    (await connectBus({
      // NATS_URL may list several servers; nats.js would take a comma-separated string as one.
      servers: natsServers(options.natsUrl ?? (await defaultNatsUrl())),
      prefix: options.prefix ?? DEFAULT_PREFIX,
      name: `longshore-ui-${process.pid}`,
      logger: busWarnings(warn, 'ui'),
    }));

  // Each reader runs again when it ends (a watch the server closed) and, after a failure,
  // after a growing pause (every()'s backoff); it says so, with how long until the next try.
  const onError =
    (what: string): EveryOptions['onError'] =>
    (err, next) =>
      warn(
        `ui: reading ${what} failed (${next.failures} in a row), trying again in ${Math.round(next.retryInMs / 1000)} s: ${innermostMessage(err)}`,
      );
  const stream = { since: new Date(Date.now() - windowMs) };
  const readers: Periodic[] = [
    every(RESTART_MS, (signal) => follow(bus, view, stream, signal, warn), {
      onError: onError('the event stream'),
    }),
    watchBucket(
      bus,
      CONSTRAINTS_KV_BUCKET,
      ConstraintStatus,
      {},
      (k, v) => view.setConstraint(k, v),
      onError,
    ),
    watchBucket(
      bus,
      CLAIM_STATE_KV_BUCKET,
      ClaimState,
      { ttlMs: CLAIM_STATE_TTL_MS },
      (k, v) => view.setClaimState(k, v),
      onError,
    ),
    watchBucket(bus, POD_CHECK_KV_BUCKET, PodCheckResult, {}, (k, v) => view.setPodCheck(k, v), onError),
    ...(options.metricsUrls?.length
      ? [
          every(METRICS_EVERY_MS, (signal) => scrape(options.metricsUrls!, view, signal), {
            onError: onError('/metrics'),
          }),
        ]
      : []),
  ];

  // The view, and whether the bus is reachable now: while it is not, the page says that what
  // it shows is what was read before (nothing new can come).
  const snapshot = (now = Date.now()): PageSnapshot => ({
    ...view.snapshot(now),
    bus: { connected: bus.connected() },
  });
  const clients = new Set<ServerResponse>();
  const app = buildApp(snapshot, view, files, clients);
  let sentVersion = -1;
  let sentConnected = true;
  let sentAt = 0;
  const push = setInterval(() => {
    const now = Date.now();
    if (clients.size === 0) {
      view.forget(now);
      return;
    }
    const connected = bus.connected();
    if (view.version === sentVersion && connected === sentConnected && now - sentAt < KEEPALIVE_MS) return;
    sentVersion = view.version;
    sentConnected = connected;
    sentAt = now;
    const message = sse('snapshot', JSON.stringify(snapshot(now)));
    for (const c of clients) {
      // A browser that stopped reading (a suspended laptop) would make us buffer for it
      // without end: it is cut off, and EventSource reconnects when it wakes.
      if (c.writableLength > MAX_UNSENT_BYTES) c.destroy();
      else c.write(message);
    }
  }, PUSH_EVERY_MS);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(push);
      for (const c of clients) c.end();
      await Promise.allSettled([app.close(), ...readers.map((r) => r.stop())]);
      if (options.bus === undefined) await bus.close({ graceMs: 1_000 }).catch(() => {});
    })();
    return closing;
  };
  let address: string;
  try {
    address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  } catch (err) {
    // A port taken (npm start then tries another): nothing of this attempt keeps running.
    await close();
    throw err;
  }
  return { url: `${address.replace('://[::1]', '://localhost')}/`, close };
}

function buildApp(
  snapshot: () => PageSnapshot,
  view: FleetView,
  files: Map<string, { body: string; type: string }>,
  clients: Set<ServerResponse>,
): FastifyInstance {
  const app = Fastify({ logger: false });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });
  for (const [path, file] of files)
    app.get(path, async (_req, reply) =>
      reply.type(file.type).header('cache-control', 'no-cache').send(file.body),
    );
  app.get('/api/snapshot', async () => snapshot());
  app.get<{ Params: { id: string } }>('/api/tasks/:id', async (req, reply) => {
    const found = view.taskEvents(req.params.id);
    if (found === undefined)
      return reply.code(404).send({ error: 'no such task on the page (it may be older than the window)' });
    return found;
  });
  app.get('/api/stream', (req, reply) => {
    // Server-sent events: the snapshot now, then whenever it changes (at most once a second).
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    res.write(sse('snapshot', JSON.stringify(snapshot())));
    clients.add(res);
    req.raw.on('close', () => clients.delete(res));
  });
  return app;
}

function sse(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

/**
 * The event stream from `stream.since` on, into the view, until `signal` aborts (or the
 * stream's reading fails: every() starts it again from the last event read; a repeat is
 * counted once by the view).
 */
async function follow(
  bus: Bus,
  view: FleetView,
  stream: { since: Date },
  signal: AbortSignal,
  warn: (line: string) => void,
): Promise<undefined> {
  for await (const e of bus.replay({
    since: stream.since,
    follow: true,
    signal,
    onWaitingForStream: (why) =>
      warn(
        why === 'absent'
          ? `ui: waiting for stream ${bus.stream}: no service with prefix "${bus.prefix}" has created it yet`
          : `ui: stream ${bus.stream} was deleted; waiting for it to be created again`,
      ),
  })) {
    view.applyEvent({ name: e.name, payload: e.payload } as ViewEvent);
    stream.since = e.time;
  }
  return undefined;
}

/** A bucket's values, then every change, into the view: watched again whenever the watch ends. */
function watchBucket<S extends z.ZodType>(
  bus: Bus,
  bucket: string,
  schema: S,
  kvOptions: KvOptions,
  set: (key: string, value: z.output<S> | undefined) => void,
  onError: (what: string) => EveryOptions['onError'],
): Periodic {
  return every(
    RESTART_MS,
    async (signal) => {
      const kv = await bus.kv(bucket, schema, kvOptions);
      for await (const change of kv.watch({ signal })) set(change.key, change.value);
      return undefined;
    },
    { onError: onError(`the ${bucket} bucket`) },
  );
}

/** One round over the /metrics URLs; a source that does not answer is left out of it. */
async function scrape(urls: readonly string[], view: FleetView, signal: AbortSignal): Promise<undefined> {
  const texts = await Promise.all(
    urls.map((url) =>
      fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(METRICS_TIMEOUT_MS)]) })
        .then((r) => (r.ok ? r.text() : undefined))
        .catch(() => undefined),
    ),
  );
  const answered = texts.filter((t): t is string => t !== undefined);
  view.setMetrics(answered.flatMap(metricSamples), urls.length, answered.length);
  return undefined;
}
