// `npm run bench`: issue 7's benchmark on the test bed, in one run. Pipeline:
//   test bed up -> kwok nodes topped up -> baseline (minimal client) -> Longshore end to end
//   (N tasks at once, then a fixed load) -> vm-scaler reaction -> nodes removed
//   -> bench/results/<timestamp>.json and .md, and the table printed with the targets.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDist, imageNodeOptions } from '@longshore/build';
import { loadLongshoreConfig } from '@longshore/config';
import { stageFigures } from '@longshore/runtime/stages';
import { schedulerSettings } from '@longshore/scheduler';
import { layout, REPO_ROOT, up } from '@longshore/testbed';
import { stringify } from 'yaml';
import { AuditLog, auditEnabled, countByUser, countRequests } from './audit.ts';
import { runBaseline } from './baseline.ts';
import { addNodes, adminKube, benchKubeconfig, benchNamespace, loadKube, removeNodes } from './cluster.ts';
import { compareStages, phaseBuckets } from './histograms.ts';
import { LongshoreFleet } from './longshore.ts';
import { type BenchOptions, parseOptions, USAGE } from './options.ts';
import { SERVICES, type ServiceName } from './procs.ts';
import { machine, markdown, type Results, targetRows } from './report.ts';
import { percentiles, sustainedRate } from './stats.ts';
import { runScalerBench } from './vm-scaler.ts';

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

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
        };
        log(`baseline: ${results.baseline.tasksPerSecond?.toFixed(1)} tasks/s`);
      } finally {
        await ns.cleanup();
      }
    }

    if (has('longshore') || has('fixed-load') || has('scaler') || has('sparse')) {
      await buildDist();
      results.servicesRun = { programs: 'bundles (npm run build)', nodeOptions: imageNodeOptions() };
      log(`bundles built in dist/; NODE_OPTIONS=${results.servicesRun.nodeOptions}`);
      const ns = await benchNamespace(core, 'bench-ls');
      const fleet = new LongshoreFleet({
        runId,
        namespace: ns.name,
        classes,
        concurrency: opts.concurrency,
        natsUrl: bed.env.NATS_URL,
        redisUrl: bed.env.REDIS_URL,
        adminKc,
        kubeconfigs,
        dir,
        logDir: layout.logs,
      });
      try {
        await fleet.start();
        log(`services up (logs: .testbed/logs/bench-<service>.log)`);
        if (has('longshore')) {
          const cpu0 = fleet.procStats();
          log(`Longshore: ${opts.tasks} tasks queued at once`);
          const r = await fleet.runLoad({ tasks: opts.tasks, image: opts.image, audit });
          const procs = fleet.procStats();
          const ours = r.kubeRequests.requests.filter((q) => q.user !== 'bench-baseline');
          const all = countRequests(ours);
          const podLists = ours.filter((q) => q.verb === 'list' && q.resource === 'pods').length;
          const { kubeRequests: _counted, ...load } = r;
          results.longshore = {
            ...load,
            kubePerTask: audit
              ? { writes: all.writes / r.tasks, reads: all.reads / r.tasks, podLists: podLists / r.tasks }
              : undefined,
            kubeByService: countByUser(ours),
            services: Object.fromEntries(
              Object.entries(procs).map(([svc, s]) => [
                svc,
                { ...s, cpuSecondsInRun: s.cpuSeconds - (cpu0[svc as ServiceName]?.cpuSeconds ?? 0) },
              ]),
            ),
          };
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
          log(`sparse load: ${opts.sparseTasks} tasks, one every 5-20 s`);
          const r = await fleet.runLoad({
            tasks: opts.sparseTasks,
            image: opts.image,
            gapMs: () => 5_000 + Math.random() * 15_000,
            audit: undefined,
          });
          // Claim requests the API answered with no work, per class and minute of the phase:
          // the cost of waiting for work while there is almost none.
          const claims = r.runnerApi.byEndpoint.claim ?? 0;
          const minutes = r.elapsedMs / 60_000;
          results.sparse = {
            tasks: r.tasks,
            completed: r.completed,
            duplicated: r.duplicated,
            lost: r.lost,
            stages: r.stages,
            idleClaimsPerClassMinute: Math.max(0, claims - r.tasks) / fleet.o.classes.length / minutes,
            minutes,
          };
        }
        if (has('scaler')) {
          log(`vm-scaler: ${opts.scalerChanges} queue changes`);
          results.scaler = await runScalerBench(fleet, adminKc, { changes: opts.scalerChanges, audit });
        }
      } finally {
        log('stopping the services');
        await fleet.stop();
        await ns.cleanup();
      }
    }
  } finally {
    log('removing the added nodes');
    await removeNodes(core, runId).catch((err: unknown) => log(`could not remove the added nodes: ${err}`));
  }

  const b = results.baseline?.tasksPerSecond;
  const l = results.longshore?.tasksPerSecond;
  results.ratio = b && l ? l / b : undefined;
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
