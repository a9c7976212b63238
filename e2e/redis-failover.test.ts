// A Redis that fails over mid-run to a replica that missed the primary's last writes, as a
// managed Redis does (replication is asynchronous): the claim ledger goes back in time
// under running tasks, which is data loss for it. The claimer and scheduler reach Redis
// through an endpoint that moves to the promoted replica. Every task must still end exactly
// once (the simulator's history), with one pod each (the apiserver) and nothing left: no
// pod, no Secret, no open claim.
import { RedisFailover } from '@longshore/testbed';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetStatus } from './status.ts';

let fleet: Fleet | undefined;
let redis: RedisFailover | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  await redis?.stop();
  redis = undefined;
});

const CLASSES = { 'e2e/a': { token: 'tok-a-failover-1' }, 'e2e/b': { token: 'tok-b-failover-1' } };
const PER_CLASS = 15;

describe('a Redis failover that loses the last writes', () => {
  it('ends every task once, with one pod each and nothing left', async () => {
    redis = await RedisFailover.start();
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 8, redisUrl: redis.url });
    const f = fleet;
    const pods = f.watchPods();
    const tokens = f.watchTaskTokens();
    f.spawn('scheduler');
    f.spawn('claimer');
    const ids = await f.enqueueEach(PER_CLASS, 'fate.test/succeed:2s');
    await f.waitFor('tasks to run', () => (f.events$('task.running').length >= 6 ? true : undefined));

    // The replica stops following; for two more seconds the claimer files and ends claims
    // on the primary alone, then the endpoint moves and the primary dies with those writes.
    const lost = await redis.failover({ lagMs: 2_000 });
    expect(lost.lostBytes, 'the primary took writes the replica never got').toBeGreaterThan(0);

    await f.expectEachRanOnce(ids, pods);
    // No claim left open in the ledger the promoted replica holds (given a while to settle;
    // what is still open then is shown).
    let seen = await fleetStatus(f);
    await f
      .waitFor(
        'no open claim in the ledger',
        async () => {
          seen = await fleetStatus(f);
          return seen.classes.every((c) => c.in_flight === 0) ? true : undefined;
        },
        30_000,
      )
      .catch(() => undefined);
    expect(seen.classes.map((c) => [c.resource_class, c.in_flight])).toEqual([
      ['e2e/a', 0],
      ['e2e/b', 0],
    ]);
    // The claimer noticed that the ledger went back in time, and said so.
    expect(f.events$('ledger.rebuilt').length).toBeGreaterThan(0);
    expect(JSON.parse(seen.printed).ledger.last_rebuild).toMatchObject({ runner: expect.any(String) });
    await tokens.stop();
    expect(tokens.seen.size).toBeGreaterThan(0);
    f.expectNoSecrets(tokens.seen, [seen.printed]);
  });
});
