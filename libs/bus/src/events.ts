// What handlers receive. When a handler takes several subjects, D is a union and so is
// the event: `switch (e.name)` narrows `e.payload` to that subject's payload.
import type { SubjectDef } from '@longshore/contracts';
import type { z } from 'zod';

/** A validated message of one of the subjects in D. */
export type BusEvent<D extends SubjectDef> =
  D extends SubjectDef<infer S, infer N>
    ? {
        /** Subject relative to the prefix, e.g. "task.claimed". */
        readonly name: N;
        readonly def: D;
        /** Full subject, with the prefix. */
        readonly subject: string;
        readonly payload: z.output<S>;
      }
    : never;

/** Where an event sits in the stream. */
export interface StreamPosition {
  /** Stream sequence number. */
  readonly seq: number;
  /** When the stream stored it. */
  readonly time: Date;
}

/** A message from a durable consumer. */
export type Delivery<D extends SubjectDef> = BusEvent<D> &
  StreamPosition & {
    /** How many times it was delivered before this one (0 on the first delivery). */
    readonly redelivered: number;
    /** The `Nats-Msg-Id` it was published with. */
    readonly msgId: string | undefined;
  };

/** An event read back from the stream by `replay`. */
export type ReplayedEvent<D extends SubjectDef> = BusEvent<D> & StreamPosition;

/**
 * A durable handler's verdict. `ack`: its side effect is durable, never deliver again.
 * `{ nak: ms }`: deliver again after ms. `term`: give up on this message for good.
 */
export type HandlerResult = 'ack' | 'term' | { readonly nak: number };
