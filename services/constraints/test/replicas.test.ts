// Two constraint checkers against the test bed: only the holder of the `constraints` lease
// checks (each class's failures are counted once, in order), the other stands by and is
// ready too; the holder is killed with -9 and the other takes over, counting on from the
// bucket; the killed one, started again, stands by.
import { randomBytes } from 'node:crypto';
import type { BusKv } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey } from '@longshore/contracts';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

/** The JSON log records of one named process of the fleet. */
function records(f: Fleet, name: string): Record<string, unknown>[] {
  return f.logs
    .filter((l) => l.startsWith(`${name}: {`))
    .map((l) => JSON.parse(l.slice(name.length + 2)) as Record<string, unknown>);
}

const logged = (f: Fleet, name: string, msg: string) => records(f, name).filter((r) => r.msg === msg).length;

async function readyz(f: Fleet, name: string): Promise<number | undefined> {
  const url = records(f, name).find((r) => r.msg === 'serving /livez, /readyz and /metrics')?.url;
  if (typeof url !== 'string') return undefined;
  return (await fetch(`${url}/readyz`).catch(() => undefined))?.status;
}

describe('constraints with two replicas', () => {
  it('one checks, the other stands by ready; after kill -9 of the holder the other counts on from the bucket', async () => {
    const SSD = 'rep/ssd';
    const PLAIN = 'rep/plain';
    fleet = await Fleet.start({
      classes: {
        // No node has this label: every check of the class fails.
        [SSD]: {
          token: 'tok-rep-ssd-00001',
          spec: { nodeSelector: { disktype: `none-${randomBytes(3).toString('hex')}` } },
        },
        [PLAIN]: { token: 'tok-rep-plain-0001' },
      },
      agent: { constraintChecker: { enable: true, interval: '1s', threshold: 3, debounce: '300ms' } },
    });
    const f = fleet;
    const kv: BusKv<typeof ConstraintStatus> = await f.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
    const status = async (rc: string) => (await kv.get(constraintStatusKey(rc)))?.value;
    const names = ['constraints-a', 'constraints-b'];
    for (const n of names) f.spawn('constraints', n);

    const holder = await f.waitFor('one replica to take the lease', () =>
      names.find((n) => logged(f, n, 'lease taken') > 0),
    );
    const standby = names.find((n) => n !== holder)!;
    await f.waitFor('the ssd class disabled and counted past the threshold', async () => {
      const s = await status(SSD);
      return s && !s.enabled && s.consecutive_failures >= 4 ? s : undefined;
    });
    await f.waitFor('both replicas ready, the standby too', async () =>
      (await readyz(f, holder)) === 200 && (await readyz(f, standby)) === 200 ? true : undefined,
    );
    expect(logged(f, standby, 'lease taken')).toBe(0);
    expect(logged(f, standby, 'constraint checker started')).toBe(0);
    expect(logged(f, standby, 'lease held by another replica; standing by')).toBe(1);

    // The holder dies without a word: the standby takes over within the lease's TTL and a
    // try, reads the counts back, and goes on from there.
    const before = (await status(SSD))!.consecutive_failures;
    await f.kill(holder, 'SIGKILL');
    await f.waitFor(
      'the standby to take over',
      () => logged(f, standby, 'constraint checker started') > 0 || undefined,
    );
    await f.waitFor('the new holder to count on', async () => {
      const s = await status(SSD);
      return s && s.consecutive_failures >= before + 3 ? s : undefined;
    });

    // The one that died, started again, stands by.
    f.spawn('constraints', holder);
    await f.waitFor(
      'the restarted replica to stand by',
      () => logged(f, holder, 'lease held by another replica; standing by') > 0 || undefined,
    );

    // Every check of the ssd class was counted once: 1, 2, 3, ... in order, across the
    // takeover (where at most the one count the killed holder stored but did not publish is
    // missing). Two checkers at once would each count from their own memory: 1, 1, 2, 2, ...
    const counts = f
      .events$('constraints.status')
      .filter((e) => e.payload.resource_class === SSD)
      .map((e) => e.payload.consecutive_failures as number);
    expect(counts.length).toBeGreaterThanOrEqual(before + 3);
    const irregular = counts
      .slice(1)
      .map((c, i) => c - counts[i]!)
      .filter((step) => step !== 1);
    expect(irregular.length <= 1 && irregular.every((step) => step === 2), `counts ${counts.join(',')}`).toBe(
      true,
    );
    expect(counts[0]).toBe(1);
    expect((await status(PLAIN))?.enabled).toBe(true);
    f.expectNoSecrets([]);
  });
});
