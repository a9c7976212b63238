// Command-line options of `npm run bench`. The defaults are the run issue 7 asks for.
import { parseArgs } from 'node:util';

export const PHASES = ['baseline', 'longshore', 'fixed-load', 'sparse', 'scaler', 'replicas'] as const;
export type Phase = (typeof PHASES)[number];
/** What runs without --only: the sparse load takes 12 minutes at its default size. */
export const DEFAULT_PHASES: readonly Phase[] = ['baseline', 'longshore', 'fixed-load', 'scaler'];
/** --scale: every phase, at issue 18's size. */
export const SCALE_PHASES: readonly Phase[] = PHASES;
/** --scale's idle-wait settings beside the default in the sparse phase: the trade-off curve. */
export const SCALE_IDLE_WAITS = ['100ms:500ms', '100ms:2s', '1s:1s'];

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
  /**
   * Before the `longshore` phase's `tasks`, a first load of this many (0 = none) on the same
   * processes: their peak RSS after each, side by side.
   */
  firstTasks: number;
  /** Machine classes (VM pools) of the vm-scaler. */
  machineClasses: number;
  /**
   * agent.idleWait settings (`first:max`) run beside the default in the sparse phase, each by a
   * fleet of its own on the same arrivals.
   */
  idleWaits: string[];
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
  --idle-waits A,B     agent.idleWait settings (first:max, e.g. 100ms:2s) each run by a fleet of
                       its own beside the default in the sparse phase, on the same arrivals (none)
  --first-tasks N      a first load of N tasks before --tasks in the longshore phase, on the
                       same processes: peak RSS after each, side by side (0)
  --machine-classes N  machine classes (VM pools) the vm-scaler polls (1)
  --only a,b           phases to run: ${PHASES.join(', ')}
                       (default: all but sparse and replicas)
  --quick              a short run: 200 tasks, 30 nodes, 10 s fixed load, 10 changes
  --scale              issue 18's run, every phase (about 50 min): 10000 tasks after 1000 over
                       20 classes, 500 nodes, concurrency 100, 20 machine classes, 40 changes,
                       the sparse phase with --idle-waits ${SCALE_IDLE_WAITS.join(',')},
                       and the 10000 once more with two claimers and two schedulers
  --no-write           print only; write nothing to bench/results/

Options given with --quick or --scale override the preset's values.`;

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
      'idle-waits': { type: 'string' },
      'first-tasks': { type: 'string' },
      'machine-classes': { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean' },
      scale: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  const scale = values.scale === true;
  if (quick && scale) throw new Error('--quick and --scale: choose one');
  const pick = <T>(standard: T, q: T, s: T): T => (scale ? s : quick ? q : standard);
  const int = (name: string, v: string | undefined, dflt: number, min = 1): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, not ${v}`);
    return n;
  };
  const phases = (values.only?.split(',').map((s) => s.trim()) ??
    (scale ? [...SCALE_PHASES] : [...DEFAULT_PHASES])) as Phase[];
  for (const p of phases)
    if (!PHASES.includes(p)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
  const idleWaits =
    values['idle-waits'] === undefined
      ? scale
        ? [...SCALE_IDLE_WAITS]
        : []
      : values['idle-waits']
          .split(',')
          .map((w) => w.trim())
          .filter((w) => w !== '');
  for (const w of idleWaits)
    if (!/^[0-9.]+[a-z]+:[0-9.]+[a-z]+$/.test(w))
      throw new Error(`--idle-waits: ${w} is not <first>:<max> (e.g. 100ms:2s)`);
  return {
    tasks: int('tasks', values.tasks, pick(1000, 200, 10_000)),
    classes: int('classes', values.classes, pick(4, 4, 20)),
    nodes: int('nodes', values.nodes, pick(100, 30, 500)),
    concurrency: int('concurrency', values.concurrency, pick(20, 20, 100)),
    image: values.image ?? 'fate.test/succeed:1s',
    rate: int('rate', values.rate, 10),
    rateSeconds: int('rate-seconds', values['rate-seconds'], pick(30, 10, 30)),
    scalerChanges: int('scaler-changes', values['scaler-changes'], pick(30, 10, 40)),
    sparseTasks: int('sparse-tasks', values['sparse-tasks'], pick(60, 10, 60)),
    firstTasks: int('first-tasks', values['first-tasks'], pick(0, 0, 1000), 0),
    machineClasses: int('machine-classes', values['machine-classes'], pick(1, 1, 20)),
    idleWaits,
    phases,
    write: values['no-write'] !== true,
  };
}
