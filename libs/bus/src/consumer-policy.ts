// Pure decisions behind a durable consumer: how its server side is configured, and what
// becomes of a message once its handler has answered (or thrown).
import { AckPolicy, type ConsumerConfig, DeliverPolicy } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';

/** Where a new durable starts: every event still in the stream, or only later ones. */
export type StartFrom = 'all' | 'new';

export interface DurableSettings {
  durable: string;
  filterSubject: string;
  maxDeliver: number;
  ackWaitMs: number;
  from: StartFrom;
}

/** Delays for a handler that threw, by delivery (1st failure, 2nd, ...; the last repeats). */
export const DEFAULT_RETRY_BACKOFF_MS: readonly number[] = [1_000, 5_000, 15_000, 60_000];

/** Server-side configuration of a durable pull consumer with explicit acks. */
export function durableConsumerConfig(s: DurableSettings): Partial<ConsumerConfig> {
  return {
    durable_name: s.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: s.from === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    filter_subject: s.filterSubject,
    max_deliver: s.maxDeliver,
    ack_wait: nanos(s.ackWaitMs),
  };
}

/** How long a message whose handler threw waits before its next delivery. */
export function retryDelayMs(backoffMs: readonly number[], deliveryCount: number): number {
  if (backoffMs.length === 0) return 0;
  const i = Math.min(Math.max(deliveryCount, 1), backoffMs.length) - 1;
  return backoffMs[i]!;
}

/** What the handler did: answered (anything, as JS callers may return junk) or threw. */
export type HandlerOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: unknown };

/** What to tell the server about a handled message, and how to count it. */
export type Settlement =
  | { readonly action: 'ack' }
  | { readonly action: 'term'; readonly why: 'handler' | 'exhausted'; readonly failed: boolean }
  | { readonly action: 'nak'; readonly delayMs: number; readonly failed: boolean };

/**
 * `ack`/`term` answers are followed; `{nak}` is followed until the last allowed delivery,
 * where the message is term'd instead (the server would stop delivering it anyway, but
 * silently); a throw or an answer that is none of these is retried after a backoff.
 */
export function settlementFor(
  outcome: HandlerOutcome,
  deliveryCount: number,
  maxDeliver: number,
  backoffMs: readonly number[],
): Settlement {
  if (outcome.ok && outcome.result === 'ack') return { action: 'ack' };
  if (outcome.ok && outcome.result === 'term') return { action: 'term', why: 'handler', failed: false };
  const failed = !(outcome.ok && isNak(outcome.result));
  if (deliveryCount >= maxDeliver) return { action: 'term', why: 'exhausted', failed };
  if (outcome.ok && isNak(outcome.result))
    return { action: 'nak', delayMs: Math.max(0, outcome.result.nak), failed };
  return { action: 'nak', delayMs: retryDelayMs(backoffMs, deliveryCount), failed };
}

function isNak(r: unknown): r is { nak: number } {
  return typeof r === 'object' && r !== null && typeof (r as { nak?: unknown }).nak === 'number';
}
