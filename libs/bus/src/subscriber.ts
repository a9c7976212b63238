// Core-NATS subscriptions for broadcasts and live taps: at most once, no acks, no replay.
// Every message is validated like a durable one; a bad one is logged, counted and skipped.
import { type AnySubjectDef, type SubjectDef, subjectDefOf, subjectFor } from '@longshore/contracts';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { decodePayload } from './codec.ts';
import type { BusEvent } from './events.ts';
import { filterSubjectFor, relativeFilter } from './filters.ts';
import { type BusLogger, type BusMetrics, errorFields } from './observe.ts';

export type EventHandler<D extends SubjectDef> = (event: BusEvent<D>) => void | Promise<void>;

export interface SubscriptionHandle {
  /** The subject (maybe a wildcard) subscribed to on the server. */
  readonly subject: string;
  /** Stops receiving and waits for the handler to finish the message it is on. */
  stop(): Promise<void>;
}

export interface SubscriberDeps {
  nc: NatsConnection;
  prefix: string;
  logger: BusLogger;
  metrics: BusMetrics;
}

/**
 * Subscribes to definitions (one subscription on their common wildcard, see
 * filterSubjectFor) or to a filter relative to the prefix such as `task.>`, which takes
 * every registered subject it matches. Messages are handled one at a time, in order.
 */
export function startSubscription<D extends SubjectDef>(
  deps: SubscriberDeps,
  target: D | readonly D[] | string,
  handler: EventHandler<D> | EventHandler<AnySubjectDef>,
): SubscriptionHandle {
  let subject: string;
  let defOf: (subject: string) => SubjectDef | undefined;
  if (typeof target === 'string') {
    subject = relativeFilter(deps.prefix, target);
    defOf = (s) => subjectDefOf(deps.prefix, s);
  } else {
    const defs: readonly D[] = Array.isArray(target) ? target : [target as D];
    subject = filterSubjectFor(deps.prefix, defs);
    const bySubject = new Map(defs.map((d) => [subjectFor(deps.prefix, d), d]));
    defOf = (s) => bySubject.get(s);
  }
  const sub = deps.nc.subscribe(subject);
  const done = run(
    deps,
    sub,
    defOf,
    handler as (e: unknown) => void | Promise<void>,
    typeof target === 'string',
  );
  let stopped: Promise<void> | undefined;
  return {
    subject,
    stop: () => {
      stopped ??= sub
        .drain()
        .catch(() => sub.unsubscribe())
        .then(() => done);
      return stopped;
    },
  };
}

async function run(
  deps: SubscriberDeps,
  sub: Subscription,
  defOf: (subject: string) => SubjectDef | undefined,
  handler: (e: unknown) => void | Promise<void>,
  reportUnknown: boolean,
): Promise<void> {
  for await (const m of sub) {
    const event = decodeEvent(deps, m, defOf, reportUnknown);
    if (event === undefined) continue;
    try {
      await handler(event);
    } catch (err) {
      deps.logger.warn({ subject: m.subject, ...errorFields(err) }, 'subscription handler failed');
    }
  }
}

function decodeEvent(
  deps: SubscriberDeps,
  m: Msg,
  defOf: (subject: string) => SubjectDef | undefined,
  reportUnknown: boolean,
): unknown {
  const def = defOf(m.subject);
  if (def === undefined) {
    // With explicit definitions, other subjects under the shared wildcard are expected.
    if (reportUnknown) {
      deps.logger.warn({ subject: m.subject, size: m.data.length }, 'message on an unknown subject');
      deps.metrics.rejected?.(m.subject, 'unknown-subject');
    }
    return undefined;
  }
  const decoded = decodePayload(def.schema, m.data);
  if (!decoded.ok) {
    deps.logger.warn(
      { subject: m.subject, size: m.data.length, reason: decoded.reason, issues: decoded.issues },
      'dropping malformed message',
    );
    deps.metrics.rejected?.(m.subject, decoded.reason);
    return undefined;
  }
  return { name: def.name, def, subject: m.subject, payload: decoded.payload };
}
