// `npm run chaos`: the chaos suite at full size (bench/src/chaos.ts says what it does), on the
// test bed (brought up or reused); writes bench/results/chaos-<time>.json and .md and prints
// the table. Exit status 0 only if every task ended exactly once, none was claimed twice, no
// pod was created twice, nothing was left and no token leaked.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, up } from '@longshore/testbed';
import { chaosClean, formatChaos, runChaos } from './chaos.ts';

const USAGE = `npm run chaos -- [--tasks N] [--rate R] [--extra-faults N] [--seed S] [--image IMG]
  --tasks         tasks in the run (default 300)
  --rate          tasks enqueued per second (default 2)
  --extra-faults  faults after one of each kind (default 12)
  --seed          random seed, to repeat a run (default: the time)
  --image         the tasks' image, a test bed fate (default fate.test/succeed:1s)`;

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        tasks: { type: 'string' },
        rate: { type: 'string' },
        'extra-faults': { type: 'string' },
        seed: { type: 'string' },
        image: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const num = (v: unknown, d: number) => (typeof v === 'string' ? Number(v) : d);
  await up({ log: (s) => process.stderr.write(`${s}\n`) });
  const report = await runChaos({
    tasks: num(values.tasks, 300),
    rate: num(values.rate, 2),
    extraFaults: num(values['extra-faults'], 12),
    faultGapMs: [6_000, 12_000],
    image: typeof values.image === 'string' ? values.image : 'fate.test/succeed:1s',
    seed: num(values.seed, Date.now() % 2 ** 31),
    concurrency: 10,
    log: (s) => process.stderr.write(`${s}\n`),
  });
  const text = formatChaos(report);
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replaceAll(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  writeFileSync(join(dir, `chaos-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, `chaos-${stamp}.md`), text);
  process.stdout.write(text);
  return chaosClean(report) ? 0 : 1;
}

process.exitCode = await main();
