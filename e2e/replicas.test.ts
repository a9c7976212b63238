// Two of every service, active-active: claimers sharing the classes (each its own identity,
// each taking over the other's claims when it dies), two schedulers on one consumer, two
// GCs under their lease. Judged outside Longshore: the simulator's per-task history (how
// often each task was claimed and ended) and the apiserver (how often each task pod was
// created, watched for the whole run). One claimer and one scheduler are killed for good
// mid-run (kill -9, never restarted), as when a node goes away.
import { makeInformer, type V1Pod } from '@kubernetes/client-node';
import { MANAGED_SELECTOR } from '@longshore/contracts';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

const CLASSES = { 'e2e/r1': { token: 'tok-r1-replicas-01' }, 'e2e/r2': { token: 'tok-r2-replicas-01' } };
const TASKS_PER_CLASS = 120;

/** Every task pod the apiserver creates in the namespace, counted by name. */
async function countPodCreations(f: Fleet) {
  const created = new Map<string, number>();
  const { core, kc } = f.kube;
  const ns = f.ns.name;
  const informer = makeInformer<V1Pod>(
    kc,
    `/api/v1/namespaces/${ns}/pods`,
    () => core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED_SELECTOR }),
    MANAGED_SELECTOR,
  );
  // A pod's uid is new for every create, even of the same name: count uids per name.
  const uids = new Map<string, Set<string>>();
  informer.on('add', (p) => {
    const name = p.metadata?.name ?? '';
    const set = uids.get(name) ?? new Set<string>();
    set.add(p.metadata?.uid ?? '');
    uids.set(name, set);
    created.set(name, set.size);
  });
  await informer.start();
  return { created, stop: () => informer.stop() };
}

describe('two replicas of every service', () => {
  it('runs every task exactly once, with one pod each, through the death of a claimer and a scheduler', async () => {
    fleet = await Fleet.start({ classes: CLASSES, maxConcurrentTasks: 8 });
    const f = fleet;
    const tokens = f.watchTaskTokens();
    const pods = await countPodCreations(f);
    try {
      for (const name of ['scheduler-a', 'scheduler-b']) f.spawn('scheduler', name);
      for (const name of ['claimer-a', 'claimer-b']) f.spawn('claimer', name);
      for (const name of ['gc-a', 'gc-b']) f.spawn('gc', name);
      const ids = [
        ...(await f.admin.enqueueMany(
          { resource_class: 'e2e/r1', image: 'fate.test/succeed:500ms' },
          TASKS_PER_CLASS,
        )),
        ...(await f.admin.enqueueMany(
          { resource_class: 'e2e/r2', image: 'fate.test/succeed:500ms' },
          TASKS_PER_CLASS,
        )),
      ];
      // Both claimers take work, then one of each pair dies for good.
      await f.waitFor('both claimers claiming', () => {
        const runners = new Set(f.events$('task.claimed').map((e) => e.payload.runner));
        return runners.size === 2 && f.events$('task.claimed').length >= 40 ? true : undefined;
      });
      await f.kill('claimer-a');
      await f.kill('scheduler-a');
      const tasks = await f.waitForTasksEnded(ids, 240_000);
      expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
      // Claimed once each (a claim whose answer died with the killed claimer is requeued by the
      // API's claim lease: no runner ever held it).
      const effective = (t: (typeof tasks)[number]) =>
        t.history.filter((e) => e.type === 'claimed').length -
        t.history.filter((e) => e.type === 'claim-expired').length;
      expect(tasks.filter((t) => effective(t) !== 1).map((t) => t.id)).toEqual([]);
      // One pod per task, each created once.
      await f.waitFor('no task pod or Secret left', async () => {
        const o = await f.taskObjects();
        return o.pods.length + o.secrets.length === 0 ? true : undefined;
      });
      // The killed claimer's claims are taken over by the other once its heartbeat expires
      // (up to a TTL plus a sweep after the kill; the tasks may all have ended before that),
      // and closed: no claim and no task token is left in the ledger.
      await f.waitFor('claimer-b to take over the claims of claimer-a', () =>
        f.logs.some((l) => l.startsWith('claimer-b:') && l.includes('took over the claims'))
          ? true
          : undefined,
      );
      await f.waitFor('no open claim left in the ledger', async () =>
        (await f.openClaims()) === 0 ? true : undefined,
      );
      expect(pods.created.size).toBe(ids.length);
      expect([...pods.created.values()].filter((n) => n !== 1)).toEqual([]);
      await tokens.stop();
      f.expectNoSecrets(tokens.seen);
    } finally {
      await pods.stop();
    }
  });
});
