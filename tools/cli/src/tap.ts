// `longshore tap`: watch the bus as a readable timeline (timeline.ts) or as JSON lines.
// With --since it first replays what the event stream kept, then follows live events;
// without, it follows live events only. Started before any service has created the event
// stream (or while it is deleted and created again), it says so once and waits for it,
// then prints from the stream's first event. Reading goes through @longshore/bus, which
// validates every payload against its schema (unknown keys are dropped there) and skips
// what does not match, so tap prints only fields the contracts define, never a secret.
//
// In-process use (the main job streams its own tap): pass an open `bus`, an AbortSignal
// to stop, and `onEvent` to count or collect what goes by.
import { parseArgs } from 'node:util';
import { type Bus, type BusLogger, BusSetupError, connectBus, type ReplayedEvent } from '@longshore/bus';
import { DurationError, natsServers, parseDuration } from '@longshore/config';
import type { AnySubjectDef } from '@longshore/contracts';
import type { Io } from './config-check.ts';
import { formatEvent, matchesFilters } from './timeline.ts';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_PREFIX = 'longshore';

export type TapEvent = ReplayedEvent<AnySubjectDef>;

export interface TapOptions {
  /** Subject filter relative to the prefix: `task.>`, `scaler.decision`. Default `>` (all). */
  filter?: string;
  /** Print one JSON object per line, `{subject, seq, time, payload}`, instead of the timeline. */
  json?: boolean;
  /** Only events of this task: its id, or a prefix of it (the short id tap prints works). */
  task?: string;
  /** Only events of this resource class (events without one, like gc.swept, are left out). */
  resourceClass?: string;
  /** Replay what the stream kept from this many ms ago, then follow. Default: live only. */
  sinceMs?: number;
  /** Read through this open bus; tap does not close it. Without one, tap connects itself. */
  bus?: Bus;
  /** Where to connect without `bus`. Default: $NATS_URL, then the test bed's, then localhost. */
  natsUrl?: string;
  /** Subject prefix without `bus`. Default `longshore`. */
  prefix?: string;
  /** Called with every event that passes the filters, before it is printed. */
  onEvent?: (event: TapEvent) => void;
}

/** The command line was wrong; the CLI prints the message and the usage. */
export class TapUsageError extends Error {
  override name = 'TapUsageError';
}

/** Tapping could not start (a filter NATS does not take, JetStream unavailable). */
export class TapError extends Error {
  override name = 'TapError';
}

/**
 * Prints events until `signal` aborts; resolves 0 then. Throws TapError when it cannot
 * start, BusSetupError when it cannot connect.
 */
export async function tap(options: TapOptions, io: Io, signal: AbortSignal): Promise<number> {
  // Taken before connecting, so "live only" includes whatever is published from the call on.
  const since = new Date(Date.now() - (options.sinceMs ?? 0));
  if (signal.aborted) return 0;
  const filter = options.filter ?? '>';
  let bus = options.bus;
  let where = '';
  if (bus === undefined) {
    const url = options.natsUrl ?? (await defaultNatsUrl());
    where = ` at ${hideCredentials(url)}`;
    bus = await connectBus({
      // NATS_URL may list several servers; nats.js would take a comma-separated string as one.
      servers: natsServers(url),
      prefix: options.prefix ?? DEFAULT_PREFIX,
      name: `longshore-tap-${process.pid}`,
      logger: busWarnings(io.err, 'tap'),
    });
  }
  try {
    const from = options.sinceMs === undefined ? 'live' : `since ${since.toISOString()}`;
    io.err(`tap: ${bus.prefix}.${filter}${where}, ${from}; Ctrl-C stops`);
    const stream = bus.stream;
    const onWaitingForStream = (why: 'absent' | 'deleted') =>
      io.err(
        why === 'absent'
          ? `tap: waiting for stream ${stream}: no service with prefix "${bus.prefix}" has created it yet`
          : `tap: stream ${stream} was deleted; waiting for it to be created again`,
      );
    const events = bus
      .replay({ since, filter, follow: true, signal, onWaitingForStream })
      [Symbol.asyncIterator]();
    // replay ends when the signal aborts; the race also covers an abort while it is still
    // setting up its consumer, when it is not yet listening to the signal.
    let onAbort = () => {};
    const aborted = new Promise<'aborted'>((resolve) => {
      onAbort = () => resolve('aborted');
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await follow(events, aborted, bus, options, io);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return 0;
  } finally {
    if (options.bus === undefined) await bus.close({ graceMs: 1_000 });
  }
}

/** Prints events until the replay ends or `aborted` settles first. */
async function follow(
  events: AsyncIterator<TapEvent>,
  aborted: Promise<'aborted'>,
  bus: Bus,
  options: TapOptions,
  io: Io,
): Promise<void> {
  for (;;) {
    let next: IteratorResult<TapEvent> | 'aborted';
    try {
      next = await Promise.race([events.next(), aborted]);
    } catch (err) {
      throw startError(err, bus);
    }
    if (next === 'aborted') {
      void events.return?.(undefined).catch(() => undefined);
      break;
    }
    if (next.done) break;
    const e = next.value;
    if (!matchesFilters(e.payload, options)) continue;
    options.onEvent?.(e);
    io.out(
      options.json
        ? JSON.stringify({ subject: e.subject, seq: e.seq, time: e.time.toISOString(), payload: e.payload })
        : formatEvent(e.name, e.payload),
    );
  }
}

/** `longshore tap [FILTER] [--json] [--task ID] [--resource-class RC] [--since D] [--prefix P] [--nats URL]` */
export function parseTapArgs(args: readonly string[]): TapOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    throw new TapUsageError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new TapUsageError('takes at most one FILTER');
  const options: TapOptions = { json: values.json };
  if (positionals[0] !== undefined) options.filter = positionals[0];
  if (values.task !== undefined) options.task = values.task;
  if (values['resource-class'] !== undefined) options.resourceClass = values['resource-class'];
  if (values.prefix !== undefined) options.prefix = values.prefix;
  if (values.nats !== undefined) options.natsUrl = values.nats;
  if (values.since !== undefined) {
    try {
      options.sinceMs = parseDuration(values.since);
    } catch (err) {
      if (err instanceof DurationError) throw new TapUsageError(`--since: ${err.message}`, { cause: err });
      throw err;
    }
    if (options.sinceMs <= 0) throw new TapUsageError('--since must be positive, e.g. 10m');
  }
  return options;
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      task: { type: 'string' },
      'resource-class': { type: 'string' },
      since: { type: 'string' },
      prefix: { type: 'string' },
      nats: { type: 'string' },
    },
  });
}

/** $NATS_URL, else the running test bed's, else NATS's default port on this host. */
export async function defaultNatsUrl(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.NATS_URL) return env.NATS_URL;
  try {
    // Loaded only here: the test bed package pulls in the Kubernetes client.
    const { readTestbedEnv } = await import('@longshore/testbed');
    return readTestbedEnv().NATS_URL;
  } catch {
    return DEFAULT_NATS_URL; // no test bed up: try the usual place
  }
}

/** A replay that cannot start: say which stream and what went wrong (a missing stream is waited for). */
function startError(err: unknown, bus: Bus): unknown {
  if (!(err instanceof BusSetupError)) return err;
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return new TapError(`cannot read stream ${bus.stream} (prefix "${bus.prefix}"): ${err.message}${cause}`, {
    cause: err,
  });
}

/** The bus's warnings (skipped malformed messages, reconnects) as plain lines, `who: level: msg {fields}`. */
export function busWarnings(write: (line: string) => void, who: string): BusLogger {
  const line = (level: string) => (fields: Record<string, unknown>, msg: string) =>
    write(`${who}: ${level}: ${msg} ${JSON.stringify(fields)}`);
  const quiet = () => {};
  return { debug: quiet, info: quiet, warn: line('warn'), error: line('error') };
}

function hideCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, '//***@');
}
