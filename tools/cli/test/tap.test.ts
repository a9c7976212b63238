// `longshore tap` against the real NATS of the test bed: what an operator sees when
// watching the bus. Each test has its own subject prefix, so its own stream, removed after.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type Bus, connectBus } from '@longshore/bus';
import {
  type ConstraintStatus,
  type GcSweepReport,
  type ScalerDecision,
  Subjects,
  streamName,
  type TaskClaimed,
  type TaskEnded,
  type TaskLifecycle,
  type TaskReleased,
  taskMsgId,
} from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Io } from '../src/config-check.ts';
import { parseTapArgs, TapError, type TapEvent, type TapOptions, TapUsageError, tap } from '../src/tap.ts';

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const SECRET = `tok-${randomBytes(8).toString('hex')}`;

function natsUrl(): string {
  const url = process.env.NATS_URL;
  if (!url) throw new Error('NATS_URL is not set: the integration global setup provides it');
  return url;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

let prefix: string;
let bus: Bus;
const running: Array<{ stop: () => Promise<number> }> = [];

beforeEach(async () => {
  prefix = `t${randomBytes(5).toString('hex')}`;
  bus = await connectBus({ servers: natsUrl(), prefix, name: 'tap-test', logger: quiet });
  await bus.ensureStream({ duplicateWindowMs: 60_000, maxAgeMs: 10 * 60_000 });
});

afterEach(async () => {
  await Promise.allSettled(running.splice(0).map((t) => t.stop()));
  await bus.close({ graceMs: 1_000 }).catch(() => undefined);
  const nc = await connect({ servers: natsUrl() });
  try {
    // Deleting the stream deletes the tap's consumers with it.
    await (await jetstreamManager(nc)).streams.delete(streamName(prefix)).catch(() => undefined);
  } finally {
    await nc.close();
  }
});

/** Starts a tap whose output the test reads; `stop` aborts it and returns its exit status. */
function startTap(options: TapOptions) {
  const out: string[] = [];
  const err: string[] = [];
  const events: TapEvent[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const abort = new AbortController();
  const done = tap({ ...options, onEvent: (e) => events.push(e) }, io, abort.signal);
  const t = {
    out,
    err,
    events,
    done,
    stop: async () => {
      abort.abort();
      return done;
    },
  };
  running.push(t);
  return t;
}

const at = () => new Date().toISOString();
const ref = (task: string, rc: string, attempt = 1) => ({
  task_id: task,
  resource_class: rc,
  attempt,
  runner: 'runner-a',
  at: at(),
});

/** The task pipeline's events, published as the services do (durable, with message ids). */
const publish = {
  claimed: (task: string, rc: string, attempt = 1) => {
    const p: TaskClaimed = { ...ref(task, rc, attempt), allocation: `alloc-${attempt}` };
    return bus.publish(Subjects.taskClaimed, p, { msgId: taskMsgId(task, attempt, 'claimed') });
  },
  scheduled: (task: string, rc: string) => {
    const p: TaskLifecycle = { ...ref(task, rc), pod: `ccita-${task.slice(0, 8)}-1`, namespace: 'tasks' };
    return bus.publish(Subjects.taskScheduled, p, { msgId: taskMsgId(task, 1, 'scheduled') });
  },
  running: (task: string, rc: string) => {
    const p: TaskLifecycle = {
      ...ref(task, rc),
      pod: `ccita-${task.slice(0, 8)}-1`,
      namespace: 'tasks',
      node: 'kwok-1',
    };
    return bus.publish(Subjects.taskRunning, p, { msgId: taskMsgId(task, 1, 'running') });
  },
  interrupted: (task: string, rc: string) => {
    const p: TaskEnded = { ...ref(task, rc), reason: 'evicted', error: 'node pressure', to_retry: true };
    return bus.publish(Subjects.taskInterrupted, p, { msgId: taskMsgId(task, 1, 'interrupted') });
  },
  released: (task: string, rc: string) => {
    const p: TaskReleased = { ...ref(task, rc), reason: 'evicted', retries_used: 1 };
    return bus.publish(Subjects.taskReleased, p, { msgId: taskMsgId(task, 1, 'released') });
  },
  gcSwept: () => {
    const p: GcSweepReport = {
      runner: 'gc-0',
      at: at(),
      duration_ms: 12,
      pods_deleted: 1,
      secrets_deleted: 1,
      claims_reannounced: 0,
      claims_interrupted: 0,
      errors: 0,
    };
    return bus.publish(Subjects.gcSwept, p, { msgId: `gc.${p.at}` });
  },
  scaler: () => {
    const p: ScalerDecision = {
      resource_class: 'acme/vm',
      pool: 'runners',
      namespace: 'vms',
      at: at(),
      unclaimed_tasks: 2,
      running_tasks: 0,
      desired_vms: 2,
      previous_vms: 0,
      scaled: true,
    };
    return bus.publish(Subjects.scalerDecision, p, { msgId: `scaler.${p.at}` });
  },
  constraints: () => {
    const p: ConstraintStatus = {
      resource_class: 'acme/small',
      at: at(),
      enabled: true,
      consecutive_failures: 0,
      reason: '',
    };
    return bus.publish(Subjects.constraintStatus, p, { msgId: `constraints.${p.at}` });
  },
};

/** Publishes past the bus's checks, as a buggy or hostile publisher could. */
async function rawPublish(subject: string, payload: unknown, msgId: string): Promise<void> {
  const nc = await connect({ servers: natsUrl() });
  try {
    const js = (await jetstreamManager(nc)).jetstream();
    await js.publish(`${prefix}.${subject}`, JSON.stringify(payload), { msgID: msgId });
  } finally {
    await nc.close();
  }
}

/** A timeline line as `<who> <event>`, e.g. `task 3f2a9c1d… claimed` or `gc swept`. */
function shape(line: string): string {
  const cols = line.split(/ {2,}/);
  return cols[2]?.startsWith('#') ? `${cols[1]} ${cols[2]} ${cols[3]}` : `${cols[1]} ${cols[2]}`;
}
const short = (id: string) => `${id.slice(0, 8)}…`;

describe('longshore tap', () => {
  it('replays what the stream kept, then follows live events, in order and filtered', async () => {
    const a = randomUUID();
    const b = randomUUID();
    await publish.claimed(a, 'acme/small');
    await publish.claimed(b, 'acme/big');
    await publish.scheduled(a, 'acme/small');
    // A publisher that skipped the bus's checks cannot get a token printed: tap shows
    // only the contract's fields.
    await rawPublish(
      'task.scheduled',
      { ...ref(b, 'acme/big'), pod: 'pod-b', namespace: 'tasks', task_token: SECRET },
      'raw-1',
    );

    const from = { natsUrl: natsUrl(), prefix, sinceMs: 60_000 };
    const all = startTap(from);
    const json = startTap({ ...from, json: true });
    const byTask = startTap({ ...from, task: short(a) });
    const byClass = startTap({ ...from, resourceClass: 'acme/small' });
    const tasksOnly = startTap({ ...from, filter: 'task.>' });
    const scalerOnly = startTap({ ...from, filter: 'scaler.decision' });
    await eventually(() => expect(all.out).toHaveLength(4));

    await publish.running(a, 'acme/small');
    await publish.interrupted(a, 'acme/small');
    await publish.released(a, 'acme/small');
    await publish.claimed(a, 'acme/small', 2);
    await publish.gcSwept();
    await publish.scaler();
    await publish.constraints();

    await eventually(() => expect(all.out).toHaveLength(11));
    await eventually(() => expect(json.out).toHaveLength(11));
    await eventually(() => expect(byTask.out).toHaveLength(6));
    await eventually(() => expect(byClass.out).toHaveLength(7));
    await eventually(() => expect(tasksOnly.out).toHaveLength(8));
    await eventually(() => expect(scalerOnly.out).toHaveLength(1));

    const A = `task ${short(a)}`;
    const B = `task ${short(b)}`;
    expect(all.out.map(shape)).toEqual([
      `${A} #1 claimed`,
      `${B} #1 claimed`,
      `${A} #1 scheduled`,
      `${B} #1 scheduled`,
      `${A} #1 running`,
      `${A} #1 interrupted`,
      `${A} #1 released`,
      `${A} #2 claimed`,
      'gc swept',
      'scaler decision',
      'constraints status',
    ]);
    expect(all.out[0]).toMatch(
      new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${A}  #1  claimed      acme/small  runner=runner-a$`),
    );
    expect(all.out[5]).toContain('reason=evicted error="node pressure" to_retry=true');
    expect(all.out[6]).toContain('reason=evicted retries_used=1');
    expect(all.out.join('\n')).not.toContain(SECRET);

    const records = json.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => Object.keys(r))).toEqual(
      records.map(() => ['subject', 'seq', 'time', 'payload']),
    );
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(records[0]).toMatchObject({
      subject: `${prefix}.task.claimed`,
      payload: { task_id: a, resource_class: 'acme/small', attempt: 1, allocation: 'alloc-1' },
    });
    expect(records[3]?.payload).not.toHaveProperty('task_token');
    expect(records.every((r) => !Number.isNaN(Date.parse(String(r.time))))).toBe(true);
    expect(json.out.join('\n')).not.toContain(SECRET);

    expect(byTask.out.map(shape)).toEqual([
      `${A} #1 claimed`,
      `${A} #1 scheduled`,
      `${A} #1 running`,
      `${A} #1 interrupted`,
      `${A} #1 released`,
      `${A} #2 claimed`,
    ]);
    expect(byClass.out.map(shape)).toEqual([...byTask.out.map(shape), 'constraints status']);
    expect(tasksOnly.out.map(shape)).toEqual(all.out.slice(0, 8).map(shape));
    expect(scalerOnly.out.map(shape)).toEqual(['scaler decision']);

    // onEvent sees what was printed.
    expect(byTask.events.map((e) => e.name)).toEqual([
      'task.claimed',
      'task.scheduled',
      'task.running',
      'task.interrupted',
      'task.released',
      'task.claimed',
    ]);
    for (const t of [all, json, byTask, byClass, tasksOnly, scalerOnly]) expect(await t.stop()).toBe(0);
    expect(all.err[0]).toContain(`tap: ${prefix}.> at ${natsUrl()}, since `);
  });

  it('without --since follows live events only, through an injected bus it leaves open', async () => {
    const before = randomUUID();
    const after = randomUUID();
    await publish.claimed(before, 'acme/small');
    await new Promise((r) => setTimeout(r, 50));

    const live = startTap({ bus });
    await publish.claimed(after, 'acme/small');
    await eventually(() => expect(live.out).toHaveLength(1));
    expect(live.out[0]).toContain(`task ${short(after)}`);
    expect(live.err[0]).toBe(`tap: ${prefix}.>, live; Ctrl-C stops`);
    expect(await live.stop()).toBe(0);

    // Still open: the tap's owner closes it.
    await publish.scheduled(after, 'acme/small');
  });

  it('returns at once when stopped before it started', async () => {
    const abort = new AbortController();
    abort.abort();
    const out: string[] = [];
    expect(await tap({ bus }, { out: (l) => out.push(l), err: () => {} }, abort.signal)).toBe(0);
    expect(out).toEqual([]);
  });

  it('waits for a stream no service has created yet, and for one deleted and created again', async () => {
    // A prefix of its own, with no stream until the test creates one.
    const late = `t${randomBytes(5).toString('hex')}`;
    const t = startTap({ natsUrl: natsUrl(), prefix: late });
    const lateBus = await connectBus({
      servers: natsUrl(),
      prefix: late,
      name: 'tap-test-late',
      logger: quiet,
    });
    const claim = (task: string) =>
      lateBus.publish(
        Subjects.taskClaimed,
        { ...ref(task, 'acme/late'), allocation: 'alloc-1' },
        { msgId: taskMsgId(task, 1, 'claimed') },
      );
    const waiting = `tap: waiting for stream ${streamName(late)}: no service with prefix "${late}" has created it yet`;
    try {
      await eventually(() => expect(t.err).toContain(waiting));
      const first = randomUUID();
      await lateBus.ensureStream({ duplicateWindowMs: 60_000, maxAgeMs: 10 * 60_000 });
      await claim(first);
      await eventually(() => expect(t.out.map(shape)).toEqual([`task ${short(first)} #1 claimed`]));
      expect(t.err.filter((l) => l === waiting)).toHaveLength(1);

      const nc = await connect({ servers: natsUrl() });
      try {
        await (await jetstreamManager(nc)).streams.delete(streamName(late));
      } finally {
        await nc.close();
      }
      await eventually(() =>
        expect(t.err).toContain(
          `tap: stream ${streamName(late)} was deleted; waiting for it to be created again`,
        ),
      );
      // The new stream numbers its events from 1 again; tap still prints its first one.
      const second = randomUUID();
      await lateBus.ensureStream({ duplicateWindowMs: 60_000, maxAgeMs: 10 * 60_000 });
      await claim(second);
      await eventually(() =>
        expect(t.out.map(shape)).toEqual([
          `task ${short(first)} #1 claimed`,
          `task ${short(second)} #1 claimed`,
        ]),
      );
      expect(await t.stop()).toBe(0);
    } finally {
      await lateBus.close({ graceMs: 1_000 }).catch(() => undefined);
      const nc = await connect({ servers: natsUrl() });
      try {
        await (await jetstreamManager(nc)).streams.delete(streamName(late)).catch(() => undefined);
      } finally {
        await nc.close();
      }
    }
  });

  it('says what is wrong with a filter NATS would not take', async () => {
    const t = startTap({ bus, filter: 'task..claimed' });
    await expect(t.done).rejects.toThrow(TapError);
    await expect(t.done).rejects.toThrow(
      `cannot read stream ${streamName(prefix)} (prefix "${prefix}"): "task..claimed" is not a subject filter`,
    );
  });

  it('runs as `longshore tap` and stops cleanly on Ctrl-C', async () => {
    const task = randomUUID();
    await publish.claimed(task, 'acme/small');
    const child = spawn(
      process.execPath,
      [CLI, 'tap', 'task.>', '--since', '1m', '--prefix', prefix, '--nats', natsUrl()],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually(() => expect(stdout).toContain(`task ${short(task)}  #1  claimed`), 20_000);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toContain(`tap: ${prefix}.task.>`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('exits 2 with the usage on a bad command line', async () => {
    const child = spawn(process.execPath, [CLI, 'tap', '--since', '5x'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toContain('--since: invalid duration "5x"');
    expect(stderr).toContain('longshore tap [FILTER]');
  });
});

describe('parseTapArgs', () => {
  it('reads every option', () => {
    expect(
      parseTapArgs([
        'task.>',
        '--json',
        '--task',
        'abc',
        '--resource-class',
        'acme/small',
        '--since',
        '10m',
        '--prefix',
        'p',
        '--nats',
        'nats://h:4222',
      ]),
    ).toEqual({
      filter: 'task.>',
      json: true,
      task: 'abc',
      resourceClass: 'acme/small',
      sinceMs: 600_000,
      prefix: 'p',
      natsUrl: 'nats://h:4222',
    });
    expect(parseTapArgs([])).toEqual({ json: false });
  });

  it.each([
    [['--since', '0'], /positive/],
    [['--since=-5m'], /positive/],
    [['--since', '10'], /missing unit/],
    [['a', 'b'], /at most one FILTER/],
    [['--follow'], /Unknown option/],
  ])('refuses %j', (args, reason) => {
    expect(() => parseTapArgs(args)).toThrow(TapUsageError);
    expect(() => parseTapArgs(args)).toThrow(reason);
  });
});
