// `npm run bench`: issue 7's benchmark on the test bed, in one run. Pipeline:
//   test bed up -> kwok nodes topped up -> baseline (minimal client) -> Longshore end to end
//   (N tasks at once, then a fixed load) -> vm-scaler reaction -> nodes removed
//   -> bench/results/<timestamp>.json and .md, and the table printed with the targets.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDist, imageNodeOptions } from '@longshore/build';
import { IDLE_WAIT_DEFAULTS, loadLongshoreConfig } from '@longshore/config';
import { stageFigures } from '@longshore/runtime/stages';
import { schedulerSettings } from '@longshore/scheduler';
import { layout, REPO_ROOT, up } from '@longshore/testbed';
import { stringify } from 'yaml';
import { AuditLog, type AuditRequest, auditEnabled, countByUser, countRequests } from './audit.ts';
import { runBaseline } from './baseline.ts';
import { addNodes, adminKube, benchKubeconfig, benchNamespace, loadKube, removeNodes } from './cluster.ts';
import { compareStages, phaseBuckets } from './histograms.ts';
import { type FleetOptions, type LoadResult, LongshoreFleet } from './longshore.ts';
import { type BenchOptions, parseOptions, USAGE } from './options.ts';
import { cpuSince, machineCpu, type ProcStats, SERVICES, type ServiceName } from './procs.ts';
import { type IdleWaitPoint, machine, markdown, type Results, type ScaleRun, targetRows } from './report.ts';
import { percentiles, sustainedRate } from './stats.ts';
import { runScalerBench } from './vm-scaler.ts';

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** Kubernetes requests per task of a load, from its audit window (Longshore's users only). */
function kubeFigures(r: LoadResult, counted: boolean) {
  const ours = r.kubeRequests.requests.filter((q: AuditRequest) => q.user !== 'bench-baseline');
  const all = countRequests(ours);
  const podLists = ours.filter((q) => q.verb === 'list' && q.resource === 'pods').length;
  return {
    kubePerTask: counted
      ? { writes: all.writes / r.tasks, reads: all.reads / r.tasks, podLists: podLists / r.tasks }
      : undefined,
    kubeByService: countByUser(ours),
  };
}

/** Each process's peak RSS, and its CPU seconds since `before`. */
function servicesOver(before: Record<string, ProcStats>, after: Record<string, ProcStats>) {
  return Object.fromEntries(
    Object.entries(after).map(([svc, s]) => [
      svc,
      { ...s, cpuSecondsInRun: s.cpuSeconds - (before[svc]?.cpuSeconds ?? 0) },
    ]),
  );
}

/**
 * A load queued at once on a fleet, with what it cost: Kubernetes requests from the audit
 * window, each process's peak RSS and CPU, and the CPU of the test bed and the bench.
 */
async function measuredLoad(
  fleet: LongshoreFleet,
  o: { tasks: number; image: string; audit: AuditLog | undefined },
): Promise<Omit<ScaleRun, 'first'>> {
  const cpu0 = fleet.procStats();
  const machine0 = machineCpu();
  const r = await fleet.runLoad(o);
  const { kubeRequests: _counted, ...load } = r;
  return {
    ...load,
    ...kubeFigures(r, o.audit !== undefined),
    services: servicesOver(cpu0, fleet.procStats()),
    machineCpu: cpuSince(machine0, machineCpu()),
  };
}

/** Claim requests the API answered with no work, per class and minute of a load. */
function idleClaimsPerClassMinute(r: LoadResult, classes: number): number {
  const claims = r.runnerApi.byEndpoint.claim ?? 0;
  return Math.max(0, claims - r.tasks) / classes / (r.elapsedMs / 60_000);
}

async function main(): Promise<number> {
  let opts: BenchOptions | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const results: Results = {
    startedAt: new Date().toISOString(),
    machine: machine(),
    options: { ...opts },
    kubeRequestsCounted: false,
  };
  const bed = await up({ log });
  const counted = auditEnabled(join(layout.dir, 'kube-apiserver.pid'));
  results.kubeRequestsCounted = counted;
  if (!counted)
    log(
      'the running test bed writes no audit log (started before it did): Kubernetes requests are not counted; restart it (npm run testbed:down && npm run testbed:up) when no one else uses it',
    );
  const audit = counted ? new AuditLog(layout.auditLog) : undefined;
  const { kc: adminKc, core } = adminKube(bed.env.KUBECONFIG);
  const runId = randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'longshore-bench-'));
  const kubeconfigs = Object.fromEntries(
    SERVICES.map((s) => [s, benchKubeconfig(adminKc, `bench-${s}`, dir)]),
  ) as Record<ServiceName, string>;
  const classes = Array.from({ length: opts.classes }, (_, i) => `bench/c${i}`);
  const has = (p: string) => opts.phases.includes(p as never);

  try {
    const added = await addNodes(core, runId, opts.nodes);
    log(`${added} kwok nodes added (${opts.nodes} in all)`);

    if (has('baseline')) {
      const ns = await benchNamespace(core, 'bench-base');
      try {
        const file = join(dir, 'baseline.yaml');
        writeFileSync(
          file,
          stringify({
            agent: {
              namespace: ns.name,
              autodetectPlatform: false,
              maxConcurrentTasks: opts.concurrency,
              resourceClasses: Object.fromEntries(classes.map((rc) => [rc, { token: 'unused' }])),
            },
          }),
        );
        const cfg = await loadLongshoreConfig({ file, env: {} });
        log(`baseline: ${opts.tasks} tasks, ${opts.concurrency} at a time`);
        audit?.mark();
        const cpu0 = machineCpu();
        const b = await runBaseline({
          kc: loadKube(benchKubeconfig(adminKc, 'bench-baseline', dir)),
          settings: schedulerSettings(cfg, 'bench-baseline', ns.name),
          tasks: opts.tasks,
          concurrency: opts.concurrency,
          image: opts.image,
          classes,
        });
        const reqs = audit?.read().filter((r) => r.user === 'bench-baseline');
        results.baseline = {
          tasks: b.tasks,
          elapsedMs: b.elapsedMs,
          tasksPerSecond: sustainedRate(b.completions),
          createToEndMs: percentiles(b.createToEndMs),
          kube: reqs ? countRequests(reqs) : undefined,
          machineCpu: cpuSince(cpu0, machineCpu()),
        };
        log(`baseline: ${results.baseline.tasksPerSecond?.toFixed(1)} tasks/s`);
      } finally {
        await ns.cleanup();
      }
    }

    if (has('longshore') || has('fixed-load') || has('scaler') || has('sparse') || has('replicas')) {
      await buildDist();
      results.servicesRun = { programs: 'bundles (npm run build)', nodeOptions: imageNodeOptions() };
      log(`bundles built in dist/; NODE_OPTIONS=${results.servicesRun.nodeOptions}`);
      const ns = await benchNamespace(core, 'bench-ls');
      const fleetOptions = (namespace: string, id: string): FleetOptions => ({
        runId: id,
        namespace,
        classes,
        concurrency: opts.concurrency,
        natsUrl: bed.env.NATS_URL,
        redisUrl: bed.env.REDIS_URL,
        adminKc,
        kubeconfigs,
        dir: mkdtempSync(join(dir, 'fleet-')),
        logDir: layout.logs,
      });
      const fleet = new LongshoreFleet({
        ...fleetOptions(ns.name, runId),
        machineClasses: opts.machineClasses,
      });
      try {
        await fleet.start();
        log(`services up (logs: .testbed/logs/bench-<service>.log)`);
        if (has('longshore')) {
          let first: ScaleRun['first'];
          if (opts.firstTasks > 0) {
            // The same processes through a smaller load first: memory that depends on the
            // tasks seen, rather than on the tasks in flight, shows as growth between the two.
            log(`Longshore: first ${opts.firstTasks} tasks queued at once`);
            const f = await fleet.runLoad({ tasks: opts.firstTasks, image: opts.image, audit: undefined });
            first = {
              tasks: f.tasks,
              completed: f.completed,
              tasksPerSecond: f.tasksPerSecond,
              peakRssMb: Object.fromEntries(
                Object.entries(fleet.procStats()).map(([svc, s]) => [svc, s.peakRssMb]),
              ),
            };
            log(`Longshore: ${f.tasksPerSecond?.toFixed(1)} tasks/s, ${f.completed}/${f.tasks} completed`);
          }
          log(`Longshore: ${opts.tasks} tasks queued at once`);
          const r = await measuredLoad(fleet, { tasks: opts.tasks, image: opts.image, audit });
          results.longshore = { ...r, first };
          log(`Longshore: ${r.tasksPerSecond?.toFixed(1)} tasks/s, ${r.completed}/${r.tasks} completed`);
        }
        if (has('fixed-load')) {
          const n = Math.round(opts.rate * opts.rateSeconds);
          log(`fixed load: ${opts.rate} tasks/s for ${opts.rateSeconds} s`);
          // The services' own histograms over the same phase, to set beside the bench's figures.
          const scrape = async () =>
            stageFigures(
              await Promise.all(['claimer', 'scheduler'].map((s) => fleet.procs.metrics(s as ServiceName))),
            );
          const before = await scrape();
          const r = await fleet.runLoad({ tasks: n, image: opts.image, rate: opts.rate, audit: undefined });
          const histograms = compareStages(phaseBuckets(before, await scrape()), r.stages);
          const { tasks, completed, duplicated, lost, stages } = r;
          results.fixedLoad = { rate: opts.rate, tasks, completed, duplicated, lost, stages, histograms };
        }
        if (has('sparse')) {
          log(
            `sparse load: ${opts.sparseTasks} tasks, one every 5-20 s` +
              (opts.idleWaits.length > 0
                ? `, beside fleets with agent.idleWait ${opts.idleWaits.join(', ')}`
                : ''),
          );
          // One fleet per idle-wait setting beside the default one, on the same arrivals (each
          // its own simulator, bus prefix and namespace): the trade-off curve in one phase.
          const gaps = Array.from({ length: opts.sparseTasks }, () => 5_000 + Math.random() * 15_000);
          const others: { setting: string; fleet: LongshoreFleet; cleanup: () => Promise<void> }[] = [];
          try {
            for (const [i, setting] of opts.idleWaits.entries()) {
              const wns = await benchNamespace(core, `bench-iw${i}`);
              const f = new LongshoreFleet({
                ...fleetOptions(wns.name, `${runId}w${i}`),
                idleWait: setting,
                label: `iw${i}`,
              });
              others.push({ setting, fleet: f, cleanup: () => wns.cleanup() });
              await f.start();
            }
            const runs = await Promise.all(
              [fleet, ...others.map((o) => o.fleet)].map((f) =>
                f.runLoad({
                  tasks: opts.sparseTasks,
                  image: opts.image,
                  gapMs: (i) => gaps[i]!,
                  audit: undefined,
                }),
              ),
            );
            const r = runs[0]!;
            results.sparse = {
              tasks: r.tasks,
              completed: r.completed,
              duplicated: r.duplicated,
              lost: r.lost,
              stages: r.stages,
              idleClaimsPerClassMinute: idleClaimsPerClassMinute(r, classes.length),
              minutes: r.elapsedMs / 60_000,
            };
            // The other end of the trade-off: each setting at the fixed load too, one after
            // the other (the default's is the fixed-load phase's).
            const atRate: (LoadResult | undefined)[] = [];
            for (const o of others) {
              log(
                `fixed load with agent.idleWait ${o.setting}: ${opts.rate} tasks/s for ${opts.rateSeconds} s`,
              );
              atRate.push(
                await o.fleet.runLoad({
                  tasks: Math.round(opts.rate * opts.rateSeconds),
                  image: opts.image,
                  rate: opts.rate,
                  audit: undefined,
                }),
              );
            }
            const point = (setting: string, x: LoadResult, fixed: LoadResult['stages'] | undefined) => ({
              setting,
              completed: x.completed,
              tasks: x.tasks,
              queuedToClaimed: x.stages['queued->claimed'],
              idleClaimsPerClassMinute: idleClaimsPerClassMinute(x, classes.length),
              queuedToClaimedAtRate: fixed?.['queued->claimed'],
            });
            if (others.length > 0)
              results.idleWaitCurve = [
                point(
                  `${IDLE_WAIT_DEFAULTS.first}:${IDLE_WAIT_DEFAULTS.max} (default)`,
                  r,
                  results.fixedLoad?.stages,
                ),
                ...others.map((o, i) => point(o.setting, runs[i + 1]!, atRate[i]?.stages)),
              ] satisfies IdleWaitPoint[];
          } finally {
            for (const o of others) {
              await o.fleet.stop();
              await o.cleanup();
            }
          }
        }
        if (has('scaler')) {
          log(`vm-scaler: ${opts.scalerChanges} queue changes over ${opts.machineClasses} machine class(es)`);
          results.scaler = await runScalerBench(fleet, adminKc, { changes: opts.scalerChanges, audit });
        }
      } finally {
        log('stopping the services');
        await fleet.stop();
        await ns.cleanup();
      }

      if (has('replicas')) {
        // The load of the longshore phase once more, with two claimers and two schedulers
        // sharing one ledger and one bus: each task must still be claimed once, one pod each.
        const rns = await benchNamespace(core, 'bench-rep');
        const twin = new LongshoreFleet({
          ...fleetOptions(rns.name, `${runId}r`),
          replicas: { claimer: 2, scheduler: 2 },
          label: 'rep',
        });
        try {
          await twin.start();
          log(`replicas: ${opts.tasks} tasks queued at once, two claimers and two schedulers`);
          const r = await measuredLoad(twin, { tasks: opts.tasks, image: opts.image, audit });
          results.replicas = r;
          log(`replicas: ${r.tasksPerSecond?.toFixed(1)} tasks/s, ${r.completed}/${r.tasks} completed`);
        } finally {
          await twin.stop();
          await rns.cleanup();
        }
      }
    }
  } finally {
    log('removing the added nodes');
    await removeNodes(core, runId).catch((err: unknown) => log(`could not remove the added nodes: ${err}`));
  }

  const b = results.baseline?.tasksPerSecond;
  const l = results.longshore?.tasksPerSecond;
  results.ratio = b && l ? l / b : undefined;
  const rl = results.replicas?.tasksPerSecond;
  results.replicasRatio = b && rl ? rl / b : undefined;
  const md = markdown(results);
  if (opts.write) {
    const out = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    const stamp = results.startedAt.replaceAll(':', '').replace(/\.\d+Z$/, 'Z');
    writeFileSync(join(out, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(out, `${stamp}.md`), md);
    log(`results in bench/results/${stamp}.{json,md}`);
  }
  process.stdout.write(md);
  const failed = targetRows(results).filter((row) => row[3] === 'FAIL');
  log(failed.length === 0 ? 'every measured target met' : `${failed.length} target(s) not met`);
  return 0;
}

const code = await main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  return 1;
});
// Everything the run started is stopped by now (services, simulator, bus, watches, nodes),
// but client-node keeps two idle keep-alive connections to the apiserver after its watches
// stop, and they held the process open after the results were written. Exit explicitly.
process.exit(code);
