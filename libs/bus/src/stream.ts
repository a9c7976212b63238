// The event stream of a prefix: every subject under it, kept for a while so the pipeline
// can consume it durably and `longshore tap --since` can read it back. Core-NATS
// broadcasts under the prefix are stored too (no ack, no dedup), so tap sees them as well.
import { streamName } from '@longshore/contracts';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { BusSetupError } from './errors.ts';

export interface StreamOptions {
  /** How long events are kept. Default 24 h. */
  maxAgeMs?: number;
  /** Window in which a repeated Nats-Msg-Id is dropped. Default 2 min. */
  duplicateWindowMs?: number;
  /** Cap on stored events (oldest dropped first). Default: none. */
  maxMsgs?: number;
  /**
   * Copies in a clustered JetStream (config `bus.replicas`). Unset: a new stream gets 1,
   * an existing one keeps its count (update merges into the stream's current config).
   */
  replicas?: number;
}

export function streamConfig(
  prefix: string,
  opts: StreamOptions = {},
): Partial<StreamConfig> & { name: string } {
  return {
    name: streamName(prefix),
    subjects: [`${prefix}.>`],
    storage: StorageType.File,
    // Limits, not work-queue: several services consume the same events, and tap replays them.
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(opts.maxAgeMs ?? 24 * 60 * 60 * 1000),
    duplicate_window: nanos(opts.duplicateWindowMs ?? 2 * 60 * 1000),
    max_msgs: opts.maxMsgs ?? -1,
    ...(opts.replicas === undefined ? {} : { num_replicas: opts.replicas }),
  };
}

/** Creates the stream, or brings an existing one to this config. Safe to race. */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    try {
      await jsm.streams.info(config.name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      // Adding the same config twice is a no-op on the server, so two services racing here is fine.
      await jsm.streams.add(config);
      return;
    }
    // A stream's replica count can change in place: JetStream adds or drops copies.
    await jsm.streams.update(config.name, config);
  } catch (err) {
    throw new BusSetupError(`cannot create or update stream ${config.name}`, { cause: err });
  }
}
