// The vm-scaler's reaction time: change a machine class's queue in the simulator (a class
// picked at random when there are several), and time how long until its VirtualMachinePool's
// replicas (watched here, as an admin) follow. Changes come at random moments against the
// 1 s poll, so the figures cover its phase.
// Also: Runner API reads per poll (simulator stats over the scaler's decisions on the bus)
// and scale requests against queue changes (audit log: PATCH .../virtualmachinepools/scale).
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
} from '@kubernetes/client-node';
import { poolNameFor } from '@longshore/vm-scaler';
import type { AuditLog } from './audit.ts';
import { type LongshoreFleet, runnerApiDelta } from './longshore.ts';
import { type Percentiles, percentiles } from './stats.ts';

export interface ScalerResult {
  /** Machine classes (one VM pool each) the vm-scaler polled. */
  classes: number;
  changes: number;
  reactionMs: Percentiles | undefined;
  /** Changes the pool never followed within 5 s. */
  missed: number;
  polls: number;
  runnerApiReadsPerPoll: number | undefined;
  scaleRequests: number;
  /** Cycles that found nothing to change and still asked to scale: should be 0. */
  needlessScaleRequests: number;
}

type Pool = KubernetesObject & { spec?: { replicas?: number } };

export async function runScalerBench(
  fleet: LongshoreFleet,
  adminKc: KubeConfig,
  opts: { changes: number; audit: AuditLog | undefined },
): Promise<ScalerResult> {
  const ns = fleet.o.namespace;
  const custom = adminKc.makeApiClient(CustomObjectsApi);
  const params = {
    group: 'pool.kubevirt.io',
    version: 'v1beta1',
    namespace: ns,
    plural: 'virtualmachinepools',
  };
  const classes = fleet.machineClasses;
  const classOfPool = new Map(classes.map((rc) => [poolNameFor(rc), rc]));
  const seen: { at: number; rc: string; replicas: number }[] = [];
  const replicas = new Map<string, number>();
  const onPool = (p: Pool) => {
    const rc = classOfPool.get(p.metadata?.name ?? '');
    if (rc === undefined) return;
    replicas.set(rc, p.spec?.replicas ?? 0);
    seen.push({ at: Date.now(), rc, replicas: p.spec?.replicas ?? 0 });
  };
  const informer = makeInformer<Pool>(
    adminKc,
    `/apis/${params.group}/${params.version}/namespaces/${ns}/virtualmachinepools`,
    () => custom.listNamespacedCustomObject(params),
  );
  informer.on('add', onPool);
  informer.on('update', onPool);
  await informer.start();
  const queued = new Map<string, string[]>(classes.map((rc) => [rc, []]));
  try {
    const until = async (ok: () => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) return false;
        await sleep(5);
      }
      return true;
    };
    if (!(await until(() => classes.every((rc) => replicas.get(rc) === 0), 30_000)))
      throw new Error(
        `${classes.filter((rc) => replicas.get(rc) !== 0).length} of ${classes.length} VM pools never showed up at 0 replicas`,
      );
    await sleep(1_500);
    opts.audit?.mark();
    const before = await fleet.admin.stats();
    const firstDecision = fleet.decisions.length;
    const reactions: number[] = [];
    let missed = 0;
    for (let i = 0; i < opts.changes; i++) {
      await sleep(1_000 + Math.random() * 1_000);
      const rc = classes[Math.floor(Math.random() * classes.length)]!;
      const q = queued.get(rc)!;
      const cur = q.length;
      let target = cur;
      while (target === cur) target = Math.floor(Math.random() * 9);
      // The change is done when the simulator has answered; a poll may land in between, so
      // watch from before the call and count such a (rare) early hit as 0 ms.
      const mark = seen.length;
      if (target > cur) {
        q.push(...(await fleet.admin.enqueueMany({ resource_class: rc, image: 'machine' }, target - cur)));
      } else {
        await Promise.all(q.splice(target).map((id) => fleet.admin.cancel(id)));
      }
      const t0 = Date.now();
      const hitOf = () => seen.slice(mark).find((s) => s.rc === rc && s.replicas === target);
      await until(() => hitOf() !== undefined, 5_000);
      const hit = hitOf();
      if (hit) reactions.push(Math.max(0, hit.at - t0));
      else missed++;
    }
    await sleep(3_000); // quiet: polls that must not scale
    const after = await fleet.admin.stats();
    const ours = new Set(classes);
    const decisions = fleet.decisions.slice(firstDecision).filter((d) => ours.has(d.resourceClass));
    const reads = runnerApiDelta(before, after, 1).byEndpoint;
    const countReads = (reads.unclaimedCount ?? 0) + (reads.runningCount ?? 0);
    const audit = opts.audit?.read() ?? [];
    const scaleRequests = audit.filter(
      (r) =>
        r.user === 'bench-vm-scaler' &&
        r.resource === 'virtualmachinepools/scale' &&
        (r.verb === 'patch' || r.verb === 'update'),
    ).length;
    const scaled = decisions.filter((d) => d.scaled).length;
    return {
      classes: classes.length,
      changes: opts.changes,
      reactionMs: percentiles(reactions),
      missed,
      polls: decisions.length,
      runnerApiReadsPerPoll: decisions.length > 0 ? countReads / decisions.length : undefined,
      scaleRequests: opts.audit ? scaleRequests : scaled,
      needlessScaleRequests: Math.max(0, (opts.audit ? scaleRequests : scaled) - opts.changes),
    };
  } finally {
    await Promise.all([...queued.values()].flat().map((id) => fleet.admin.cancel(id).catch(() => {})));
    await informer.stop();
  }
}
