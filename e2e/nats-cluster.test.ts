// The container runner on a three-node NATS cluster with every stream and bucket kept three
// times (bus.replicas 3): kill -9 of the node leading the event stream mid-run, and its
// start again later, lose nothing. Judged by the simulator's history (each task claimed and
// ended once), the apiserver (one pod per task, none left) and the stream read back (every
// task's claim and end are there).
import type { ReplayedEvent } from '@longshore/bus';
import type { AnySubjectDef } from '@longshore/contracts';
import { NatsCluster } from '@longshore/testbed';
import { Fleet } from '@longshore/testbed/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let cluster: NatsCluster;
let fleet: Fleet | undefined;

beforeAll(async () => {
  cluster = await NatsCluster.start();
});
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});
afterAll(async () => {
  await cluster?.stop();
});

const CLASSES = { 'e2e/a': { token: 'tok-a-natscluster-1' }, 'e2e/b': { token: 'tok-b-natscluster-1' } };
const PER_CLASS = 15;

describe('a three-node NATS cluster with three replicas', () => {
  it('loses nothing when the event stream leader is killed mid-run and comes back later', async () => {
    const startedAt = new Date();
    fleet = await Fleet.start({
      classes: CLASSES,
      maxConcurrentTasks: 8,
      natsUrls: cluster.urls,
      busReplicas: 3,
    });
    const f = fleet;
    const pods = f.watchPods();
    const tokens = f.watchTaskTokens();
    f.spawn('scheduler');
    f.spawn('claimer');
    const ids = await f.enqueueEach(PER_CLASS, 'fate.test/succeed:1s');
    await f.waitFor('some tasks to run', () => (f.events$('task.running').length >= 6 ? true : undefined));

    // Everything the fleet made is on all three nodes, so any one of them may go.
    const mine = [f.bus.stream, `KV_${f.prefix}_`];
    const placed = (await cluster.streams()).filter((s) => mine.some((m) => s.name.startsWith(m)));
    expect(placed.map((s) => s.name)).toContain(f.bus.stream);
    expect(placed.length).toBeGreaterThanOrEqual(3); // the stream and the claimer's buckets
    for (const s of placed) expect(s.peers, s.name).toHaveLength(3);

    const leader = await f.waitFor('a leader of the event stream', () => cluster.streamLeader(f.bus.stream));
    const killedAt = new Date().toISOString();
    await cluster.kill(leader);
    // The run goes on without it: tasks claimed after the kill go through the stream (claim to
    // scheduler to pod) and end while the node is down.
    await f.waitFor(
      'tasks claimed after the kill to complete with the node down',
      async () => ((await completedClaimedSince(f, ids, killedAt)) >= 6 ? true : undefined),
      90_000,
    );
    await cluster.restart(leader);

    await f.expectEachRanOnce(ids, pods);

    // The stream kept every task's claim and end through the node's death.
    const stored = await readBack(f, startedAt);
    for (const name of ['task.claimed', 'task.reported'] as const) {
      const per = countPerTask(stored, name);
      expect(
        ids.map((id) => per.get(id) ?? 0),
        name,
      ).toEqual(ids.map(() => 1));
    }
    await tokens.stop();
    expect(tokens.seen.size).toBeGreaterThan(0);
    f.expectNoSecrets(tokens.seen);
  });
});

/** Tasks first claimed at or after `since` (an ISO time) that have completed. */
async function completedClaimedSince(f: Fleet, ids: readonly string[], since: string): Promise<number> {
  const tasks = await Promise.all(ids.map((id) => f.admin.task(id)));
  return tasks.filter((t) => {
    const claimed = t.history.find((e) => e.type === 'claimed');
    return t.state === 'completed' && claimed !== undefined && claimed.at >= since;
  }).length;
}

async function readBack(f: Fleet, since: Date): Promise<ReplayedEvent<AnySubjectDef>[]> {
  const out: ReplayedEvent<AnySubjectDef>[] = [];
  for await (const e of f.bus.replay({ since, filter: 'task.>' })) out.push(e);
  return out;
}

function countPerTask(events: readonly ReplayedEvent<AnySubjectDef>[], name: string): Map<string, number> {
  const per = new Map<string, number>();
  for (const e of events) {
    if (e.name !== name) continue;
    const task = (e.payload as { task_id: string }).task_id;
    per.set(task, (per.get(task) ?? 0) + 1);
  }
  return per;
}
