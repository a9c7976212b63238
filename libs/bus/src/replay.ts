// Reading the event stream back from a point in time, for `longshore tap --since 10m`:
// an ordered (ephemeral, flow-controlled, self-healing) consumer that yields validated
// events in stream order, stops when it has caught up, or keeps following live events.
// A follower may also wait for the stream: tap is often started before any service has
// created it, and a stream can be deleted and created again while tap runs.
import { setTimeout as sleep } from 'node:timers/promises';
import { type AnySubjectDef, subjectDefOf } from '@longshore/contracts';
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { decodePayload } from './codec.ts';
import { BusSetupError } from './errors.ts';
import type { ReplayedEvent } from './events.ts';
import { relativeFilter } from './filters.ts';
import type { BusLogger, BusMetrics } from './observe.ts';

export interface ReplayOptions {
  /** Events stored at or after this time. */
  since: Date;
  /** Subject filter relative to the prefix, e.g. `task.>`. Default: everything. */
  filter?: string;
  /** Keep yielding new events after catching up, until `signal` aborts. Default false. */
  follow?: boolean;
  /** Ends the iteration (the way to stop following). */
  signal?: AbortSignal;
  /**
   * With `follow`: when the stream does not exist, because no service has created it yet
   * ('absent') or it was deleted while being followed ('deleted'), wait for it instead of
   * failing, and call this once as each wait begins. A stream that appears after a wait is
   * read from its first event. Without it, a missing stream is a BusSetupError.
   */
  onWaitingForStream?: (why: 'absent' | 'deleted') => void;
}

export interface ReplayDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  logger: BusLogger;
  metrics: BusMetrics;
}

/** How often a waiting follower looks for the stream. */
const STREAM_POLL_MS = 500;

/** Where the next consumer starts: a time, or a stream sequence. */
type Start = { since: Date } | { seq: number };

export async function* replayEvents(
  deps: ReplayDeps,
  opts: ReplayOptions,
): AsyncGenerator<ReplayedEvent<AnySubjectDef>> {
  if (Number.isNaN(opts.since.getTime())) throw new BusSetupError('replay: since is not a valid date');
  const filter = relativeFilter(deps.prefix, opts.filter ?? '>');
  const onWaiting = opts.follow ? opts.onWaitingForStream : undefined;
  let start: Start = { since: opts.since };
  // The stream's creation time tells a stream deleted and created again from the one we read.
  let reading: string | undefined;
  let waiting = false;
  for (;;) {
    if (opts.signal?.aborted) return;
    const created = await streamCreated(deps, filter);
    if (created === undefined) {
      if (onWaiting === undefined)
        throw new BusSetupError(`cannot replay ${filter}: no stream ${deps.stream}`);
      if (!waiting) onWaiting(reading === undefined ? 'absent' : 'deleted');
      waiting = true;
      try {
        await sleep(STREAM_POLL_MS, undefined, { signal: opts.signal });
      } catch {
        return; // aborted
      }
      continue;
    }
    // Everything in a stream that appeared while we waited, or was replaced, is new to us.
    if (waiting || (reading !== undefined && created !== reading)) start = { seq: 1 };
    waiting = false;
    reading = created;
    const next: number | undefined = yield* readStream(deps, filter, start, opts);
    if (next === undefined) return;
    start = { seq: next };
  }
}

/**
 * Reads the stream from `start` with one ordered consumer. Returns undefined when done
 * (caught up without `follow`, or aborted), or the sequence to go on from when the
 * consumer was lost with its stream (only when waiting for the stream is asked for).
 */
async function* readStream(
  deps: ReplayDeps,
  filter: string,
  start: Start,
  opts: ReplayOptions,
): AsyncGenerator<ReplayedEvent<AnySubjectDef>, number | undefined> {
  const rejoin = opts.follow === true && opts.onWaitingForStream !== undefined;
  let consumer: Consumer;
  let next: number;
  try {
    next = 'seq' in start ? start.seq : await firstSeqSince(deps.jsm, deps.stream, filter, start.since);
    consumer = await deps.js.consumers.get(deps.stream, { filter_subjects: filter, opt_start_seq: next });
  } catch (err) {
    // Deleted since we looked: the caller looks again, and waits.
    if (rejoin && isStreamNotFound(err)) return 'seq' in start ? start.seq : 1;
    throw new BusSetupError(`cannot replay ${filter} from ${deps.stream}`, { cause: err });
  }
  let lost = false;
  try {
    if (!opts.follow && (await consumer.info(true)).num_pending === 0) return undefined;
    const messages = await consumer.consume();
    const abort = () => messages.stop();
    opts.signal?.addEventListener('abort', abort, { once: true });
    if (rejoin) {
      // The ordered consumer would recreate itself in a recreated stream at its old
      // sequence, skipping the new stream's first events: stop, and let the caller rejoin.
      void (async () => {
        for await (const s of messages.status()) {
          if (s.type === 'stream_not_found' || s.type === 'consumer_deleted') {
            lost = true;
            messages.stop();
            return;
          }
        }
      })();
    }
    try {
      for await (const m of messages) {
        next = m.seq + 1;
        const def = subjectDefOf(deps.prefix, m.subject);
        const decoded = def === undefined ? undefined : decodePayload(def.schema, m.data);
        if (def === undefined || decoded === undefined) {
          deps.logger.warn(
            { subject: m.subject, seq: m.seq, size: m.data.length },
            'replay: unknown subject',
          );
          deps.metrics.rejected?.(m.subject, 'unknown-subject');
        } else if (!decoded.ok) {
          deps.logger.warn(
            {
              subject: m.subject,
              seq: m.seq,
              size: m.data.length,
              reason: decoded.reason,
              issues: decoded.issues,
            },
            'replay: skipping malformed message',
          );
          deps.metrics.rejected?.(m.subject, decoded.reason);
        } else {
          yield {
            name: def.name,
            def,
            subject: m.subject,
            payload: decoded.payload,
            seq: m.seq,
            time: m.time,
          } as ReplayedEvent<AnySubjectDef>;
        }
        if (!opts.follow && m.info.pending === 0) break;
      }
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      messages.stop();
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return lost && !opts.signal?.aborted ? next : undefined;
}

/** The stream's creation time, or undefined when there is no such stream. */
async function streamCreated(deps: ReplayDeps, filter: string): Promise<string | undefined> {
  try {
    return (await deps.jsm.streams.info(deps.stream)).created;
  } catch (err) {
    if (isStreamNotFound(err)) return undefined;
    throw new BusSetupError(`cannot replay ${filter} from ${deps.stream}`, { cause: err });
  }
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * The first stream sequence at or after `since` (matching the filter or not).
 *
 * Why not give the ordered consumer `opt_start_time` directly: nats.js recreates an
 * ordered consumer after a gap or missed heartbeats by copying its config and switching to
 * a start *sequence*; with the start time still in the config nats-server 2.9.10 refuses
 * it, and the replay stalls for good. So the time is turned into a sequence by a probe
 * consumer (its info reports the sequence it would start at) that is deleted at once.
 */
async function firstSeqSince(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  since: Date,
): Promise<number> {
  const probe = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
    filter_subject: filter,
    mem_storage: true,
    inactive_threshold: nanos(10_000),
  });
  await jsm.consumers.delete(stream, probe.name).catch(() => undefined);
  return probe.delivered.stream_seq + 1;
}
