// Command-line options of `npm run bench`. The defaults are the run issue 7 asks for.
import { parseArgs } from 'node:util';

export const PHASES = ['baseline', 'longshore', 'fixed-load', 'scaler', 'sparse'] as const;
export type Phase = (typeof PHASES)[number];
/** What runs without --only: the sparse load takes 12 minutes at its default size. */
export const DEFAULT_PHASES: readonly Phase[] = ['baseline', 'longshore', 'fixed-load', 'scaler'];

export interface BenchOptions {
  tasks: number;
  classes: number;
  nodes: number;
  concurrency: number;
  /** Primary image of every task: its fate in the test bed (testbed/kwok/stages.yaml). */
  image: string;
  rate: number;
  rateSeconds: number;
  scalerChanges: number;
  /** Tasks of the sparse load: one every 5-20 s at random. */
  sparseTasks: number;
  phases: Phase[];
  /** Where results go; `false` with --no-write. */
  write: boolean;
}

export const USAGE = `npm run bench -- [options]

  --tasks N            tasks queued at once in the end-to-end run and the baseline (1000)
  --classes N          resource classes the tasks are spread over (4)
  --nodes N            kwok nodes to run on; extra ones are added and removed again (100)
  --concurrency N      agent.maxConcurrentTasks, and the baseline's parallel workers (20)
  --image IMG          the tasks' primary image, i.e. their fate (fate.test/succeed:1s)
  --rate R             offered load of the fixed-load run, tasks/s (10)
  --rate-seconds S     length of the fixed-load run (30)
  --scaler-changes N   queue changes for the vm-scaler (30)
  --sparse-tasks N     tasks of the sparse load, one every 5-20 s at random (60: about 12 min)
  --only a,b           phases to run: ${PHASES.join(', ')} (all but sparse)
  --quick              a short run: 200 tasks, 30 nodes, 10 s fixed load, 10 changes
  --no-write           print only; write nothing to bench/results/`;

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: 'string' },
      classes: { type: 'string' },
      nodes: { type: 'string' },
      concurrency: { type: 'string' },
      image: { type: 'string' },
      rate: { type: 'string' },
      'rate-seconds': { type: 'string' },
      'scaler-changes': { type: 'string' },
      'sparse-tasks': { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  const int = (name: string, v: string | undefined, dflt: number, min = 1): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, not ${v}`);
    return n;
  };
  const phases = (values.only?.split(',').map((s) => s.trim()) ?? [...DEFAULT_PHASES]) as Phase[];
  for (const p of phases)
    if (!PHASES.includes(p)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
  return {
    tasks: int('tasks', values.tasks, quick ? 200 : 1000),
    classes: int('classes', values.classes, 4),
    nodes: int('nodes', values.nodes, quick ? 30 : 100),
    concurrency: int('concurrency', values.concurrency, 20),
    image: values.image ?? 'fate.test/succeed:1s',
    rate: int('rate', values.rate, 10),
    rateSeconds: int('rate-seconds', values['rate-seconds'], quick ? 10 : 30),
    scalerChanges: int('scaler-changes', values['scaler-changes'], quick ? 10 : 30),
    sparseTasks: int('sparse-tasks', values['sparse-tasks'], quick ? 10 : 60),
    phases,
    write: values['no-write'] !== true,
  };
}
