// Reading the event stream back from a point in time, for `longshore tap --since 10m`:
// an ordered (ephemeral, flow-controlled, self-healing) consumer that yields validated
// events in stream order, stops when it has caught up, or keeps following live events.
import { type AnySubjectDef, subjectDefOf } from '@longshore/contracts';
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
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
}

export interface ReplayDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  prefix: string;
  logger: BusLogger;
  metrics: BusMetrics;
}

export async function* replayEvents(
  deps: ReplayDeps,
  opts: ReplayOptions,
): AsyncGenerator<ReplayedEvent<AnySubjectDef>> {
  if (Number.isNaN(opts.since.getTime())) throw new BusSetupError('replay: since is not a valid date');
  const filter = relativeFilter(deps.prefix, opts.filter ?? '>');
  if (opts.signal?.aborted) return;
  let consumer: Consumer;
  try {
    const startSeq = await firstSeqSince(deps.jsm, deps.stream, filter, opts.since);
    consumer = await deps.js.consumers.get(deps.stream, { filter_subjects: filter, opt_start_seq: startSeq });
  } catch (err) {
    throw new BusSetupError(`cannot replay ${filter} from ${deps.stream}`, { cause: err });
  }
  try {
    if (!opts.follow && (await consumer.info(true)).num_pending === 0) return;
    const messages = await consumer.consume();
    const abort = () => messages.stop();
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      for await (const m of messages) {
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
