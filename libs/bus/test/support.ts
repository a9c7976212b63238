// Shared helpers of the bus integration tests. Each test gets its own subject prefix, so
// its own stream, consumers and buckets, and removes them afterwards: the NATS server is
// shared with every other test of the run.
import { randomBytes } from 'node:crypto';
import { streamName, type TaskClaimed, type TaskEnded, type TaskLifecycle } from '@longshore/contracts';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  type Bus,
  type BusLogger,
  type BusMetrics,
  connectBus,
  type PublishOutcome,
  type RejectReason,
} from '../src/index.ts';

export function natsUrl(): string {
  const url = process.env.NATS_URL;
  if (!url) throw new Error('NATS_URL is not set: the integration global setup provides it');
  return url;
}

export function uniquePrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

export function captureLogger(): BusLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    lines.push({ level, fields, msg });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function countingMetrics(): BusMetrics & {
  rejects: Array<[string, RejectReason]>;
  outcomes: string[];
  publishes: Array<[string, PublishOutcome]>;
} {
  const rejects: Array<[string, RejectReason]> = [];
  const outcomes: string[] = [];
  const publishes: Array<[string, PublishOutcome]> = [];
  return {
    rejects,
    outcomes,
    publishes,
    rejected: (subject, reason) => {
      rejects.push([subject, reason]);
    },
    handled: (_subject, outcome) => {
      outcomes.push(outcome);
    },
    published: (subject, outcome) => {
      publishes.push([subject, outcome]);
    },
  };
}

/** One test's world: its prefix, the buses it opened, and a teardown that removes it all. */
export class TestWorld {
  readonly prefix = uniquePrefix();
  readonly logger = captureLogger();
  readonly metrics = countingMetrics();
  readonly #buses: Bus[] = [];
  readonly #buckets: string[] = [];

  async bus(name = 'test'): Promise<Bus> {
    const bus = await connectBus({
      servers: natsUrl(),
      prefix: this.prefix,
      name,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.#buses.push(bus);
    await bus.ensureStream({ duplicateWindowMs: 60_000, maxAgeMs: 10 * 60_000 });
    return bus;
  }

  /** Registers a KV bucket (its full name) for removal. */
  bucket(name: string): void {
    this.#buckets.push(name);
  }

  /** Publishes raw bytes through JetStream, bypassing the bus's validation. */
  async rawPublish(relSubject: string, data: string, msgId: string): Promise<void> {
    const nc = await connect({ servers: natsUrl() });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.jetstream().publish(`${this.prefix}.${relSubject}`, data, { msgID: msgId });
    } finally {
      await nc.close();
    }
  }

  async consumerInfo(durable: string) {
    const nc = await connect({ servers: natsUrl() });
    try {
      return await (await jetstreamManager(nc)).consumers.info(streamName(this.prefix), durable);
    } finally {
      await nc.close();
    }
  }

  async streamMessages(): Promise<number> {
    const nc = await connect({ servers: natsUrl() });
    try {
      return (await (await jetstreamManager(nc)).streams.info(streamName(this.prefix))).state.messages;
    } finally {
      await nc.close();
    }
  }

  async teardown(): Promise<void> {
    await Promise.allSettled(this.#buses.map((b) => b.close({ graceMs: 1_000 })));
    const nc = await connect({ servers: natsUrl() });
    try {
      const jsm = await jetstreamManager(nc);
      // Deleting the stream deletes its consumers too.
      for (const s of [streamName(this.prefix), ...this.#buckets.map((b) => `KV_${b}`)]) {
        await jsm.streams.delete(s).catch(() => undefined);
      }
    } finally {
      await nc.close();
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A promise the test resolves by hand, to hold a handler mid-way. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const ref = (task: string) => ({
  task_id: task,
  resource_class: 'org/small',
  attempt: 1,
  runner: 'runner-a',
  at: new Date().toISOString(),
});

export const claimed = (task: string): TaskClaimed => ({ ...ref(task), allocation: `alloc-${task}` });
export const running = (task: string): TaskLifecycle => ({
  ...ref(task),
  pod: `pod-${task}`,
  namespace: 'ns',
});
export const interrupted = (task: string): TaskEnded => ({ ...ref(task), reason: 'evicted', to_retry: true });
