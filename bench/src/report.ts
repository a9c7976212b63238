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
  };
  /** The load run's figures, its audit window replaced by the counts taken from it. */
  longshore?: Omit<LoadResult, 'kubeRequests'> & {
    kubePerTask: { writes: number; reads: number; podLists: number } | undefined;
    kubeByService: Record<string, RequestCounts>;
    services: Record<string, ProcStats & { cpuSecondsInRun: number }>;
  };
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
}

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
    '≥ 0.8',
    verdict(r.ratio === undefined ? undefined : r.ratio >= 0.8),
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
    rows.push([`peak RSS, ${svc}`, fmt(s.peakRssMb, ' MB', 1), '< 120 MB', verdict(s.peakRssMb < 120)]);
  }
  for (const [svc, s] of Object.entries(l?.services ?? {})) {
    rows.push([`CPU seconds in the run, ${svc}`, fmt(s.cpuSecondsInRun, ' s'), '', '']);
  }
  const sc = r.scaler;
  rows.push([
    'vm-scaler: queue change → pool replicas, p50 / p99',
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

export function markdown(r: Results): string {
  const m = r.machine;
  const o = r.options;
  const lines = [
    `# Longshore benchmark, ${r.startedAt}`,
    '',
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}; load average at start ${fmt(m.load1)}.`,
    `Run: ${o.tasks} tasks over ${o.classes} resource classes, image \`${o.image}\`, ${o.nodes} kwok nodes, ` +
      `concurrency ${o.concurrency} (agent.maxConcurrentTasks, baseline workers); fixed load ${o.rate} tasks/s for ${o.rateSeconds} s; ` +
      `${o.scalerChanges} vm-scaler queue changes.`,
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
      `Longshore, ${l.tasks} tasks queued at once: ${l.completed} completed, ${l.duplicated} claimed twice, ${l.lost} not cleaned up, ${fmt(l.elapsedMs / 1000, ' s', 1)}.`,
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
  if (r.sparse) {
    const sp = r.sparse;
    lines.push(
      `Longshore at a sparse load, ${sp.tasks} tasks one every 5-20 s over ${fmt(sp.minutes, ' min', 1)}: ${sp.completed} completed, ${sp.duplicated} claimed twice, ${sp.lost} not cleaned up; ${fmt(sp.idleClaimsPerClassMinute, '', 1)} claim requests answered with no work per class per minute.`,
      '',
      ...stageTable(sp.stages),
      '',
    );
  }
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
