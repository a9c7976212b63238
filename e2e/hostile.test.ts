// The world outside, hostile: the simulator answers as a broken or confused Runner API does
// (odd task ids, task configs over every limit or of the wrong shape, a claim for another
// class, one task handed out twice, a 50 MB answer), Redis loses the ledger under running
// tasks, and the ledger holds records no claimer could have written. Each is an error about
// that one task, with a clear message where the Runner API can be told; the claimer never
// stops, never holds a slot without end, and goes on claiming. Judged by the simulator's
// per-task history, the apiserver and the bus; no token shows in any log line or message.
import { randomBytes } from 'node:crypto';
import { readTestbedEnv } from '@longshore/testbed';
import { Fleet } from '@longshore/testbed/testing';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const RC = 'e2e/h';
const CLASSES = { [RC]: { token: 'tok-h-hostile-0001' } };
const QUICK = 'fate.test/succeed:300ms';

const lastFailure = (t: { history: { type: string; message?: string }[] }) =>
  t.history.filter((e) => e.type === 'failed').at(-1)?.message ?? '';

describe('hostile Runner API answers', () => {
  it('fails each unusable task with its reason, frees its slot, and goes on claiming', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 2 });
    const f = fleet;
    const tokens = f.watchTaskTokens();
    f.spawn('scheduler');
    f.spawn('claimer');
    const container = (image: string, environment: Record<string, string> = {}) => ({ image, environment });
    const bad = (config_override: Record<string, unknown>) =>
      f.admin.enqueue({ resource_class: RC, image: QUICK, config_override });
    // Each of these became a pod (or stopped the claimer) before; each must now fail alone.
    const cases: Record<string, { id: string; says: RegExp }> = {
      newline: { id: await bad({ task_id: `bad\nid-${f.id}` }), says: /task_id/ },
      containers500: {
        id: await bad({ containers: Array.from({ length: 500 }, () => container(QUICK)) }),
        says: /containers/,
      },
      bigEnvironment: {
        id: await bad({ containers: [container(QUICK, { BIG: 'x'.repeat(1_100_000) })] }),
        says: /environment/,
      },
      notAnImage: { id: await bad({ containers: [container('NOT AN IMAGE!')] }), says: /image/ },
      malformed: { id: await bad({ containers: 'nope' }), says: /containers/ },
      otherClass: {
        id: await f.admin.enqueue({
          resource_class: RC,
          image: QUICK,
          claim_override: { resource_class: 'e2e/other' },
        }),
        says: /e2e\/other/,
      },
    };
    const good = await f.admin.enqueueMany({ resource_class: RC, image: QUICK }, 6);
    const ids = [...Object.values(cases).map((c) => c.id), ...good];
    // Two slots and six bad tasks: the good ones run only if every bad claim gave its slot back.
    const tasks = await f.waitForTasksEnded(ids, 90_000);
    const byId = new Map(tasks.map((t) => [t.id, t]));
    for (const [name, c] of Object.entries(cases)) {
      const t = byId.get(c.id)!;
      expect([name, t.state]).toEqual([name, 'failed']);
      expect(lastFailure(t), name).toMatch(/^Longshore could not run this task: /);
      expect(lastFailure(t), name).toMatch(c.says);
    }
    expect(good.map((id) => byId.get(id)!.state)).toEqual(good.map(() => 'completed'));
    // Only the good tasks were ever announced: nothing unusable became a pod.
    expect(new Set(f.events$('task.claimed').map((e) => e.payload.task_id))).toEqual(new Set(good));
    // The claimer publishes claim.dropped after it has failed the task at the API: the last
    // one can come a moment after the API knows every task ended.
    await f.waitFor('every unusable claim dropped on the bus', () =>
      f.events$('claim.dropped').length >= Object.keys(cases).length ? true : undefined,
    );
    const dropped = f.events$('claim.dropped');
    expect(dropped.map((e) => e.payload.outcome)).toEqual(Object.keys(cases).map(() => 'failed'));
    expect(dropped.map((e) => e.payload.stage).sort()).toEqual([
      'claim',
      'config',
      'config',
      'config',
      'config',
      'config',
    ]);
    expect(f.procs.get('claimer')?.exitCode).toBeNull();
    await tokens.stop();
    f.expectNoSecrets(tokens.seen);
  });

  it('files a second claim of one task id only once the first has ended, then runs it as the next attempt', async () => {
    // One task id handed out twice, as the API does once a task was given back (by its
    // orchestrator, which then exits 0): the second claim waits for the first instead of
    // being filed over it or dropped.
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 2 });
    const f = fleet;
    f.spawn('scheduler');
    f.spawn('claimer');
    const dup = `dup-${f.id}`;
    const twins = [
      await f.admin.enqueue({
        resource_class: RC,
        image: 'fate.test/succeed:2s',
        config_override: { task_id: dup },
      }),
      await f.admin.enqueue({
        resource_class: RC,
        image: 'fate.test/succeed:2s',
        config_override: { task_id: dup },
      }),
    ];
    const good = await f.admin.enqueueMany({ resource_class: RC, image: QUICK }, 4);
    const tasks = await f.waitForTasksEnded([...twins, ...good], 90_000);
    expect(tasks.map((t) => t.state)).toEqual(tasks.map(() => 'completed'));
    // The API knows a task ended when its orchestrator reports; the scheduler publishes
    // task.reported when it sees the pod end, which can come a moment later.
    const reported = () =>
      f.events$('task.reported').filter((e) => e.payload.task_id === dup && e.payload.attempt === 2);
    await f.waitFor('attempt 2 of the twin reported on the bus', () =>
      reported().length > 0 ? true : undefined,
    );
    const ofDup = f.events.filter(
      (e) => e.payload.task_id === dup && (e.name === 'task.claimed' || e.name === 'task.reported'),
    );
    // Attempt 2 was announced only after attempt 1 had ended: never two open claims. (A
    // core subscriber may see a publish the stream dropped as a repeat: counted once.)
    const seen = [...new Set(ofDup.map((e) => JSON.stringify([e.name, e.payload.attempt])))];
    expect(seen.map((k) => JSON.parse(k))).toEqual([
      ['task.claimed', 1],
      ['task.reported', 1],
      ['task.claimed', 2],
      ['task.reported', 2],
    ]);
    expect(f.events$('claim.dropped')).toEqual([]);
  });

  it('survives a 50 MB claim answer without buffering it, and claims on once the API behaves', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 2 });
    const f = fleet;
    await f.admin.setFaults([
      { endpoint: 'claim', kind: 'respond', body_bytes: 50 * 1024 * 1024, content_length: false, times: 2 },
    ]);
    f.spawn('scheduler');
    f.spawn('claimer');
    const ids = await f.admin.enqueueMany({ resource_class: RC, image: QUICK }, 3);
    const tasks = await f.waitForTasksEnded(ids, 90_000);
    expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
    expect(f.logs.some((l) => /claim failed/.test(l) && /limit|too large|exceed/i.test(l))).toBe(true);
    expect(f.procs.get('claimer')?.exitCode).toBeNull();
  });
});

describe('what the ledger holds', () => {
  it('starts past records it cannot recover, removing and reporting each, and runs the rest', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 2 });
    const f = fleet;
    const runner = `claimer-${f.id}`;
    const redis = new Redis(readTestbedEnv().REDIS_URL);
    try {
      const p = f.prefix;
      const task = (id: string) =>
        JSON.stringify({
          task_id: id,
          resource_class: RC,
          job_name: 'build',
          working_directory: '~/project',
          containers: [{ image: QUICK, environment: {} }],
          ssh_advertise_addr: '',
        });
      // What an older version (or a hand) could have left: an id with a newline, which
      // once made every start of the claimer exit; a record that is not a record; and a
      // pending claim that does not parse.
      const odd = 'bad\nid';
      await redis.hset(`${p}:claim:${odd}`, {
        task_id: odd,
        resource_class: RC,
        attempt: '1',
        allocation: 'alloc-odd',
        runner,
        claimed_at: new Date().toISOString(),
        task: task(odd),
      });
      await redis.set(`${p}:token:${odd}`, `tok-${randomBytes(8).toString('hex')}`);
      await redis.hset(`${p}:claim:broken`, { task_id: 'broken' });
      await redis.zadd(`${p}:runner:${runner}:claims`, 1, odd, 2, 'broken', 3, 'finished-long-ago');
      await redis.hset(`${p}:runner:${runner}:pending`, { garbage: '{"allocation": 12' });
      f.spawn('scheduler');
      f.spawn('claimer');
      const ids = await f.admin.enqueueMany({ resource_class: RC, image: QUICK }, 4);
      const tasks = await f.waitForTasksEnded(ids, 90_000);
      expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
      expect(f.procs.get('claimer')?.exitCode).toBeNull();
      expect(await redis.exists(`${p}:claim:${odd}`, `${p}:claim:broken`, `${p}:token:${odd}`)).toBe(0);
      // A task's claim leaves the runner's index when the claimer closes it, after the
      // scheduler published the ending: a moment after the API knows the task ended.
      const index = () => redis.zrange(`${p}:runner:${runner}:claims`, '0', '-1');
      await f.waitFor('the claims of the 4 tasks closed in the runner index', async () =>
        (await index()).some((id) => ids.includes(id)) ? undefined : true,
      );
      expect(await index()).toEqual([]);
      expect(await redis.hkeys(`${p}:runner:${runner}:pending`)).toEqual([]);
      const reported = f.logs.filter(
        (l) => l.startsWith('claimer:') && /unreadable (claim record|pending claim) removed/.test(l),
      );
      expect(reported).toHaveLength(3);
    } finally {
      redis.disconnect();
    }
  });

  it('when Redis loses the ledger under running tasks, writes it back, ends them once, and claims on', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 3 });
    const f = fleet;
    const tokens = f.watchTaskTokens();
    const redis = new Redis(readTestbedEnv().REDIS_URL);
    try {
      f.spawn('scheduler');
      f.spawn('claimer');
      const long = await f.admin.enqueueMany({ resource_class: RC, image: 'fate.test/succeed:8s' }, 3);
      await f.waitFor('three tasks running', () =>
        f.events$('task.running').length >= 3 ? true : undefined,
      );
      // Redis came back empty, as far as this deployment's keys go.
      const keys = await redis.keys(`${f.prefix}:*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
      // More work than slots: it runs only if every slot of the lost claims comes back.
      const more = await f.admin.enqueueMany({ resource_class: RC, image: QUICK }, 6);
      const tasks = await f.waitForTasksEnded([...long, ...more], 120_000);
      expect(tasks.map((t) => t.state)).toEqual([...long, ...more].map(() => 'completed'));
      const claims = (t: (typeof tasks)[number]) => t.history.filter((e) => e.type === 'claimed').length;
      expect(tasks.map(claims)).toEqual(tasks.map(() => 1));
      const rebuilt = f.events$('ledger.rebuilt');
      expect(rebuilt).toHaveLength(1);
      expect(rebuilt[0]!.payload).toMatchObject({ restored_claims: 3, errors: 0 });
      expect(f.logs.some((l) => l.includes('the claim ledger lost its data'))).toBe(true);
      expect(await redis.hget(`${f.prefix}:ledger:last-rebuild`, 'restored_claims')).toBe('3');
      await f.waitFor('no claim left in the ledger', async () =>
        (await redis.keys(`${f.prefix}:claim:*`)).length === 0 ? true : undefined,
      );
      await tokens.stop();
      f.expectNoSecrets(tokens.seen);
    } finally {
      redis.disconnect();
    }
  });
});
