// The vm-scaler's reaction time: change the machine class's queue in the simulator, and
// time how long until the VirtualMachinePool's replicas (watched here, as an admin) follow.
// Changes come at random moments against the 1 s poll, so the figures cover its phase.
// Also: Runner API reads per poll (simulator stats over the scaler's decisions on the bus)
// and scale requests against queue changes (audit log: PATCH .../virtualmachinepools/scale).
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
} from '@kubernetes/client-node';
import type { AuditLog } from './audit.ts';
import { type LongshoreFleet, MACHINE_CLASS, runnerApiDelta } from './longshore.ts';
import { type Percentiles, percentiles } from './stats.ts';

export interface ScalerResult {
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
  const seen: { at: number; replicas: number }[] = [];
  let replicas: number | undefined;
  const onPool = (p: Pool) => {
    replicas = p.spec?.replicas ?? 0;
    seen.push({ at: Date.now(), replicas });
  };
  const informer = makeInformer<Pool>(
    adminKc,
    `/apis/${params.group}/${params.version}/namespaces/${ns}/virtualmachinepools`,
    () => custom.listNamespacedCustomObject(params),
  );
  informer.on('add', onPool);
  informer.on('update', onPool);
  await informer.start();
  const queued: string[] = [];
  try {
    const until = async (ok: () => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > deadline) return false;
        await sleep(5);
      }
      return true;
    };
    if (!(await until(() => replicas === 0, 30_000)))
      throw new Error('the VM pool never showed up at 0 replicas');
    await sleep(1_500);
    opts.audit?.mark();
    const before = await fleet.admin.stats();
    const firstDecision = fleet.decisions.length;
    const reactions: number[] = [];
    let missed = 0;
    let cur = 0;
    for (let i = 0; i < opts.changes; i++) {
      await sleep(1_000 + Math.random() * 1_000);
      let target = cur;
      while (target === cur) target = Math.floor(Math.random() * 9);
      // The change is done when the simulator has answered; a poll may land in between, so
      // watch from before the call and count such a (rare) early hit as 0 ms.
      const mark = seen.length;
      if (target > cur) {
        queued.push(
          ...(await fleet.admin.enqueueMany(
            { resource_class: MACHINE_CLASS, image: 'machine' },
            target - cur,
          )),
        );
      } else {
        await Promise.all(queued.splice(target).map((id) => fleet.admin.cancel(id)));
      }
      const t0 = Date.now();
      const hitOf = () => seen.slice(mark).find((s) => s.replicas === target);
      await until(() => hitOf() !== undefined, 5_000);
      const hit = hitOf();
      if (hit) reactions.push(Math.max(0, hit.at - t0));
      else missed++;
      cur = target;
    }
    await sleep(3_000); // quiet: polls that must not scale
    const after = await fleet.admin.stats();
    const decisions = fleet.decisions.slice(firstDecision).filter((d) => d.resourceClass === MACHINE_CLASS);
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
      changes: opts.changes,
      reactionMs: percentiles(reactions),
      missed,
      polls: decisions.length,
      runnerApiReadsPerPoll: decisions.length > 0 ? countReads / decisions.length : undefined,
      scaleRequests: opts.audit ? scaleRequests : scaled,
      needlessScaleRequests: Math.max(0, (opts.audit ? scaleRequests : scaled) - opts.changes),
    };
  } finally {
    await Promise.all(queued.map((id) => fleet.admin.cancel(id).catch(() => {})));
    await informer.stop();
  }
}
