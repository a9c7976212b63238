// The results: the figures side by side with issue 7's targets, as JSON and as a short
// Markdown table (also printed).
import { cpus, loadavg, totalmem } from 'node:os';
import type { RequestCounts } from './audit.ts';
import type { StageAgreement } from './histograms.ts';
import { type LoadResult, STAGE_LABEL, STAGES } from './longshore.ts';
import type { ProcStats } from './procs.ts';
import { type Percentiles, round } from './stats.ts';
import type { ScalerResult } from './vm-scaler.ts';

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  load1: number | undefined;
}

export function machine(): Machine {
  const c = cpus();
  return {
    cores: c.length,
    cpu: c[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1) ?? 0,
    node: process.version,
    load1: loadavg()[0],
  };
}

export interface Results {
  startedAt: string;
  machine: Machine;
  options: Record<string, unknown>;
  /** False when the running test bed writes no audit log: Kubernetes request counts are missing. */
  kubeRequestsCounted: boolean;
  /** How the services ran: their bundles (dist/) with the image's NODE_OPTIONS. */
  servicesRun?: { programs: string; nodeOptions: string };
  baseline?: {
    tasks: number;
    elapsedMs: number;
    tasksPerSecond: number | undefined;
    createToEndMs: Percentiles | undefined;
    kube: RequestCounts | undefined;
    /** CPU seconds in the phase of the test bed's processes and the bench's own. */
    machineCpu?: Record<string, number>;
  };
  /** The load run's figures, its audit window replaced by the counts taken from it. */
  longshore?: ScaleRun;
  /** The same load with two claimers and two schedulers (instances `claimer-1`, ...). */
  replicas?: Omit<ScaleRun, 'first'>;
  /** Sparse load: the default idle waits and each --idle-waits setting, on the same arrivals. */
  idleWaitCurve?: IdleWaitPoint[];
  fixedLoad?: Pick<LoadResult, 'tasks' | 'completed' | 'duplicated' | 'lost' | 'stages'> & {
    rate: number;
    /** The services' stage histograms over the phase, beside the bench's own figures. */
    histograms?: StageAgreement[];
  };
  scaler?: ScalerResult;
  /** One task every 5-20 s: the user's wait when work is rare, and what waiting for it costs. */
  sparse?: Pick<LoadResult, 'tasks' | 'completed' | 'duplicated' | 'lost' | 'stages'> & {
    idleClaimsPerClassMinute: number;
    minutes: number;
  };
  ratio?: number | undefined;
  /** Replicas phase's throughput over the baseline's. */
  replicasRatio?: number | undefined;
}

export type ScaleRun = Omit<LoadResult, 'kubeRequests'> & {
  kubePerTask: { writes: number; reads: number; podLists: number } | undefined;
  kubeByService: Record<string, RequestCounts>;
  services: Record<string, ProcStats & { cpuSecondsInRun: number }>;
  /** CPU seconds in the load of the test bed's processes and the bench's own (simulator, watches). */
  machineCpu?: Record<string, number>;
  /** A smaller load on the same processes first (--first-tasks): their peak RSS after it. */
  first?: {
    tasks: number;
    completed: number;
    tasksPerSecond: number | undefined;
    peakRssMb: Record<string, number>;
  };
};

/** One point of the idle-wait trade-off: the user's wait against the requests it costs. */
export interface IdleWaitPoint {
  /** agent.idleWait as first:max. */
  setting: string;
  tasks: number;
  completed: number;
  queuedToClaimed: Percentiles | undefined;
  idleClaimsPerClassMinute: number;
  /** queued -> claimed at the fixed load's rate, with the same setting. */
  queuedToClaimedAtRate: Percentiles | undefined;
}

/** Peak RSS may grow by this much from the first load to the full one (issue 18). */
const RSS_GROWTH_LIMIT = 0.1;

type Verdict = 'pass' | 'FAIL' | 'n/a';
const verdict = (ok: boolean | undefined): Verdict => (ok === undefined ? 'n/a' : ok ? 'pass' : 'FAIL');
const fmt = (x: number | undefined, unit = '', digits = 2) =>
  x === undefined ? '—' : `${round(x, digits)}${unit}`;

export function targetRows(r: Results): [string, string, string, Verdict | ''][] {
  const rows: [string, string, string, Verdict | ''][] = [];
  const l = r.longshore;
  const b = r.baseline;
  rows.push(['Throughput, baseline (minimal client)', fmt(b?.tasksPerSecond, ' tasks/s'), '', '']);
  rows.push(['Throughput, Longshore end to end', fmt(l?.tasksPerSecond, ' tasks/s'), '', '']);
  rows.push([
    'Ratio Longshore / baseline',
    fmt(r.ratio),
    '≥ 0.9',
    verdict(r.ratio === undefined ? undefined : r.ratio >= 0.9),
  ]);
  const p99 = r.fixedLoad?.stages['claimed->scheduled']?.p99;
  rows.push([
    `claimed → pod created p99 at ${r.fixedLoad?.rate ?? 10} tasks/s`,
    fmt(p99, ' ms', 0),
    '< 100 ms',
    verdict(p99 === undefined ? undefined : p99 < 100),
  ]);
  // The user's wait (issue 18): queued -> claimed under load and when work is rare, and the
  // claim requests an idle class costs.
  const qc = r.fixedLoad?.stages['queued->claimed']?.p99;
  rows.push([
    `queued → claimed p99 at ${r.fixedLoad?.rate ?? 10} tasks/s`,
    fmt(qc, ' ms', 0),
    '≤ 500 ms',
    verdict(qc === undefined ? undefined : qc <= 500),
  ]);
  const sp = r.sparse;
  const sq = sp?.stages['queued->claimed']?.p99;
  rows.push([
    'queued → claimed p99, one task every 5-20 s',
    fmt(sq, ' ms', 0),
    '≤ 1000 ms',
    verdict(sq === undefined ? undefined : sq <= 1000),
  ]);
  rows.push([
    'idle claim requests per class per minute (sparse load)',
    fmt(sp?.idleClaimsPerClassMinute, '', 1),
    '≤ 60',
    verdict(sp === undefined ? undefined : sp.idleClaimsPerClassMinute <= 60),
  ]);
  const k = l?.kubePerTask;
  rows.push([
    'Kubernetes write requests per task',
    fmt(k?.writes),
    '≤ 4',
    verdict(k === undefined ? undefined : k.writes <= 4),
  ]);
  rows.push(['Kubernetes read requests per task', fmt(k?.reads), '', '']);
  rows.push([
    'pod lists per task (pod state from watches)',
    fmt(k?.podLists, '', 3),
    'watches, not polling',
    verdict(k === undefined ? undefined : k.podLists < 0.05),
  ]);
  rows.push(['Runner API requests per task', fmt(l?.runnerApi.perTask), '', '']);
  for (const [svc, s] of Object.entries(l?.services ?? {})) {
    const before = l?.first?.peakRssMb[svc];
    if (before === undefined) {
      rows.push([`peak RSS, ${svc}`, fmt(s.peakRssMb, ' MB', 1), '< 120 MB', verdict(s.peakRssMb < 120)]);
      continue;
    }
    const growth = s.peakRssMb / before - 1;
    rows.push([
      `peak RSS, ${svc}, after ${l?.first?.tasks} / after ${l?.tasks} more tasks`,
      `${fmt(before, '', 1)} / ${fmt(s.peakRssMb, ' MB', 1)} (${growth >= 0 ? '+' : ''}${fmt(growth * 100, ' %', 1)})`,
      `< 120 MB, ≤ +${RSS_GROWTH_LIMIT * 100} %`,
      verdict(s.peakRssMb < 120 && growth <= RSS_GROWTH_LIMIT),
    ]);
  }
  for (const [svc, s] of Object.entries(l?.services ?? {})) {
    rows.push([`CPU seconds in the run, ${svc}`, fmt(s.cpuSecondsInRun, ' s'), '', '']);
  }
  const rp = r.replicas;
  if (rp) {
    rows.push(['Throughput, two claimers and two schedulers', fmt(rp.tasksPerSecond, ' tasks/s'), '', '']);
    rows.push([
      'Ratio with replicas / baseline',
      fmt(r.replicasRatio),
      '≥ 0.9',
      verdict(r.replicasRatio === undefined ? undefined : r.replicasRatio >= 0.9),
    ]);
    rows.push([
      'replicas: tasks claimed twice / with two pods / not cleaned up',
      `${rp.duplicated} / ${rp.duplicatePods} / ${rp.lost}`,
      '0 / 0 / 0',
      verdict(rp.duplicated === 0 && rp.duplicatePods === 0 && rp.lost === 0 && rp.completed === rp.tasks),
    ]);
    const rk = rp.kubePerTask;
    rows.push([
      'replicas: Kubernetes writes per task',
      fmt(rk?.writes),
      '≤ 4',
      verdict(rk === undefined ? undefined : rk.writes <= 4),
    ]);
    for (const [svc, s] of Object.entries(rp.services))
      rows.push([
        `replicas: peak RSS, ${svc}`,
        fmt(s.peakRssMb, ' MB', 1),
        '< 120 MB',
        verdict(s.peakRssMb < 120),
      ]);
  }
  const sc = r.scaler;
  rows.push([
    `vm-scaler${sc && sc.classes > 1 ? `, ${sc.classes} machine classes` : ''}: queue change → pool replicas, p50 / p99`,
    sc?.reactionMs ? `${fmt(sc.reactionMs.p50, '', 0)} / ${fmt(sc.reactionMs.p99, ' ms', 0)}` : '—',
    'p99 ≤ 1100 ms',
    verdict(sc?.reactionMs === undefined ? undefined : sc.reactionMs.p99 <= 1100 && sc.missed === 0),
  ]);
  rows.push([
    'vm-scaler: Runner API reads per poll per class',
    fmt(sc?.runnerApiReadsPerPoll),
    '2',
    verdict(
      sc?.runnerApiReadsPerPoll === undefined ? undefined : Math.abs(sc.runnerApiReadsPerPoll - 2) < 0.05,
    ),
  ]);
  rows.push([
    'vm-scaler: scale requests when nothing changed',
    sc
      ? `${sc.needlessScaleRequests} (${sc.scaleRequests} for ${sc.changes} changes, ${sc.polls} polls)`
      : '—',
    '0',
    verdict(sc ? sc.needlessScaleRequests === 0 : undefined),
  ]);
  return rows;
}

function stageTable(stages: Record<string, Percentiles | undefined>): string[] {
  const out = ['| stage | n | p50 | p90 | p99 | max |', '|---|---|---|---|---|---|'];
  for (const [a, b] of STAGES) {
    const p = stages[`${a}->${b}`];
    out.push(
      `| ${STAGE_LABEL[a]} → ${STAGE_LABEL[b]} | ${p?.n ?? 0} | ${fmt(p?.p50, ' ms', 0)} | ${fmt(p?.p90, ' ms', 0)} | ${fmt(p?.p99, ' ms', 0)} | ${fmt(p?.max, ' ms', 0)} |`,
    );
  }
  return out;
}

function histogramTable(rows: readonly StageAgreement[]): string[] {
  const ms = (v: number | undefined) => fmt(v, ' ms', 0);
  return [
    "The same phase from the services' own histograms (`longshore_*_task_stage_seconds`, all classes, p50/p99 interpolated within buckets as `histogram_quantile` does), beside the bench's figures:",
    '',
    '| histogram stage | n | histograms p50 / p99 | bench p50 / p99 | within one bucket |',
    '|---|---|---|---|---|',
    ...rows.map(
      (h) =>
        `| ${h.stage} | ${h.count} | ${ms(h.p50)} / ${ms(h.p99)} | ${ms(h.benchP50)} / ${ms(h.benchP99)} | ${h.withinOneBucket ? 'yes' : 'NO'} |`,
    ),
    '',
  ];
}

/**
 * Where the CPU went, per 1000 tasks: each service, each test bed process and the bench's
 * own process, for the baseline and each Longshore load (on 2 cores, a CPU-bound phase's
 * throughput is what this sum allows).
 */
export function cpuTable(r: Results): string[] {
  const cols: [string, number, Record<string, number>][] = [];
  if (r.baseline?.machineCpu) cols.push(['baseline', r.baseline.tasks, r.baseline.machineCpu]);
  for (const [name, run] of [
    ['Longshore', r.longshore],
    ['replicas', r.replicas],
  ] as const) {
    if (!run?.machineCpu) continue;
    const services = Object.fromEntries(Object.entries(run.services).map(([s, p]) => [s, p.cpuSecondsInRun]));
    cols.push([name, run.tasks, { ...services, ...run.machineCpu }]);
  }
  if (cols.length === 0) return [];
  const keys = [...new Set(cols.flatMap(([, , c]) => Object.keys(c)))];
  const per = (c: Record<string, number>, k: string, tasks: number) =>
    c[k] === undefined ? '—' : fmt((c[k] / tasks) * 1000, ' s', 1);
  const total = (c: Record<string, number>, tasks: number) =>
    fmt((Object.values(c).reduce((a, b) => a + b, 0) / tasks) * 1000, ' s', 1);
  return [
    'CPU seconds per 1000 tasks, by process (the bench process runs the simulator, which plays the in-pod agent for Longshore, and the watches and bus tap that time the stages):',
    '',
    `| process | ${cols.map(([n]) => n).join(' | ')} |`,
    `|---|${cols.map(() => '---|').join('')}`,
    ...keys.map((k) => `| ${k} | ${cols.map(([, t, c]) => per(c, k, t)).join(' | ')} |`),
    `| **all** | ${cols.map(([, t, c]) => total(c, t)).join(' | ')} |`,
    '',
  ];
}

export function markdown(r: Results): string {
  const m = r.machine;
  const o = r.options;
  const lines = [
    `# Longshore benchmark, ${r.startedAt}`,
    '',
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}; load average at start ${fmt(m.load1)}.`,
    `Run: ${o.tasks} tasks over ${o.classes} resource classes, image \`${o.image}\`, ${o.nodes} kwok nodes, ` +
      `concurrency ${o.concurrency} (agent.maxConcurrentTasks, baseline workers); fixed load ${o.rate} tasks/s for ${o.rateSeconds} s; ` +
      `${o.scalerChanges} vm-scaler queue changes over ${o.machineClasses ?? 1} machine class(es).`,
    r.kubeRequestsCounted
      ? 'Kubernetes requests: from the apiserver audit log, per bench user (one per service).'
      : 'Kubernetes requests: NOT counted (the running test bed writes no audit log; restart it).',
    ...(r.servicesRun
      ? [
          `Services: ${r.servicesRun.programs}, NODE_OPTIONS=${r.servicesRun.nodeOptions} (as the image runs them).`,
        ]
      : []),
    '',
    '| | figure | target | |',
    '|---|---|---|---|',
    ...targetRows(r).map((row) => `| ${row.join(' | ')} |`),
    '',
  ];
  if (r.longshore) {
    const l = r.longshore;
    lines.push(
      (l.first
        ? `Longshore, first ${l.first.tasks} tasks queued at once: ${l.first.completed} completed, ${fmt(l.first.tasksPerSecond, ' tasks/s')}. Then, on the same processes, `
        : 'Longshore, ') +
        `${l.tasks} tasks queued at once: ${l.completed} completed, ${l.duplicated} claimed twice, ${l.duplicatePods} with two pods, ${l.lost} not cleaned up, ${fmt(l.elapsedMs / 1000, ' s', 1)}.`,
      '',
      ...stageTable(l.stages),
      '',
    );
    const kinds = Object.entries(l.kubeByService).map(
      ([u, c]) =>
        `- ${u}: ${c.writes} writes, ${c.reads} reads (${Object.entries(c.byKind)
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')})`,
    );
    if (kinds.length > 0) lines.push('Kubernetes requests by service in that run:', '', ...kinds, '');
    lines.push(
      `Runner API requests in that run: ${Object.entries(l.runnerApi.byEndpoint)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}.`,
      '',
    );
  }
  if (r.fixedLoad) {
    const f = r.fixedLoad;
    lines.push(
      `Longshore at a fixed ${f.rate} tasks/s, ${f.tasks} tasks: ${f.completed} completed, ${f.duplicated} claimed twice, ${f.lost} not cleaned up.`,
      '',
      ...stageTable(f.stages),
      '',
      ...(f.histograms && f.histograms.length > 0 ? histogramTable(f.histograms) : []),
    );
  }
  if (r.idleWaitCurve) {
    lines.push(
      `The idle waits' trade-off: the same sparse arrivals, one fleet per \`agent.idleWait\` setting (\`first:max\`) at once:`,
      '',
      `| agent.idleWait | sparse: completed | sparse: queued → claimed p50 / p90 / p99 / max | sparse: claim requests with no work, per class and minute | ${r.fixedLoad?.rate ?? ''} tasks/s: queued → claimed p50 / p99 |`,
      '|---|---|---|---|---|',
      ...r.idleWaitCurve.map(
        (c) =>
          `| ${c.setting} | ${c.completed}/${c.tasks} | ${fmt(c.queuedToClaimed?.p50, '', 0)} / ${fmt(c.queuedToClaimed?.p90, '', 0)} / ${fmt(c.queuedToClaimed?.p99, '', 0)} / ${fmt(c.queuedToClaimed?.max, ' ms', 0)} | ${fmt(c.idleClaimsPerClassMinute, '', 1)} | ${fmt(c.queuedToClaimedAtRate?.p50, '', 0)} / ${fmt(c.queuedToClaimedAtRate?.p99, ' ms', 0)} |`,
      ),
      '',
    );
  }
  if (r.replicas) {
    const rp = r.replicas;
    lines.push(
      `Two claimers and two schedulers, ${rp.tasks} tasks queued at once: ${rp.completed} completed, ${rp.duplicated} claimed twice, ${rp.duplicatePods} with two pods, ${rp.lost} not cleaned up, ${fmt(rp.elapsedMs / 1000, ' s', 1)}; CPU seconds ${Object.entries(
        rp.services,
      )
        .map(([svc, s]) => `${svc} ${fmt(s.cpuSecondsInRun)}`)
        .join(', ')}.`,
      '',
      ...stageTable(rp.stages),
      '',
    );
  }
  if (r.sparse) {
    const sp = r.sparse;
    lines.push(
      `Longshore at a sparse load, ${sp.tasks} tasks one every 5-20 s over ${fmt(sp.minutes, ' min', 1)}: ${sp.completed} completed, ${sp.duplicated} claimed twice, ${sp.lost} not cleaned up; ${fmt(sp.idleClaimsPerClassMinute, '', 1)} claim requests answered with no work per class per minute.`,
      '',
      ...stageTable(sp.stages),
      '',
    );
  }
  lines.push(...cpuTable(r));
  if (r.baseline) {
    const b = r.baseline;
    lines.push(
      `Baseline: ${b.tasks} tasks in ${fmt(b.elapsedMs / 1000, ' s', 1)}; Secret created → pod ended p50 ${fmt(b.createToEndMs?.p50, ' ms', 0)}, p99 ${fmt(b.createToEndMs?.p99, ' ms', 0)}` +
        (b.kube
          ? `; ${fmt(b.kube.writes / b.tasks)} writes and ${fmt(b.kube.reads / b.tasks)} reads per task.`
          : '.'),
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}
