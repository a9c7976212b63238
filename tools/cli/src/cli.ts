#!/usr/bin/env node
// The `longshore` command line: the main job (`start`) and tools for operators.
import { parseArgs } from 'node:util';
import { configCheck, type Io } from './config-check.ts';
import { isMissingTestbed, START_NEEDS_REPO } from './in-image.ts';

const USAGE = `usage:
  longshore start [--once] [--namespace longshore-tasks] [--sim-port 0]
                                  the main job against the local stack (npm start)
  longshore config check [FILE] [--cluster]
                                  validate a config file (default $LONGSHORE_CONFIG); with
                                  --cluster, also send each class's task pod to the cluster
                                  of KUBECONFIG as a server-side dry run
  longshore tap [FILTER] [--json] [--task ID] [--resource-class RC] [--since 10m]
                [--prefix longshore] [--nats URL]
                                  print bus events as a timeline per task (FILTER: task.>,
                                  scaler.decision, ...; default all); --since replays first
  longshore status [--json] [--prefix longshore] [--key-prefix PREFIX] [--nats URL] [--redis URL]
                                  per resource class: claiming enabled/disabled, failed
                                  constraint checks and why, open claims`;

const io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'config' && rest[0] === 'check') {
    const { positionals, values } = parseArgs({
      args: rest.slice(1),
      allowPositionals: true,
      strict: true,
      options: { cluster: { type: 'boolean', default: false } },
    });
    return configCheck(positionals[0], io, { cluster: values.cluster });
  }
  if (cmd === 'start') {
    const { values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        once: { type: 'boolean', default: false },
        namespace: { type: 'string', default: 'longshore-tasks' },
        'sim-port': { type: 'string', default: '0' },
      },
    });
    const stop = new AbortController();
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => stop.abort());
    // Loaded only here: it pulls in the test bed and the simulator. The image holds no
    // test bed (it is not a program of the image): say so rather than print a stack trace.
    let start: typeof import('./start.ts').start;
    try {
      ({ start } = await import('./start.ts'));
    } catch (err) {
      if (!isMissingTestbed(err)) throw err;
      io.err(START_NEEDS_REPO);
      return 2;
    }
    return start(
      { once: values.once, namespace: values.namespace, simPort: Number(values['sim-port']) },
      io,
      stop.signal,
    );
  }
  if (cmd === 'tap') {
    // Loaded only here, like start: it pulls in the NATS client.
    const { parseTapArgs, tap, TapUsageError } = await import('./tap.ts');
    let options: ReturnType<typeof parseTapArgs>;
    try {
      options = parseTapArgs(rest);
    } catch (error) {
      if (!(error instanceof TapUsageError)) throw error;
      io.err(`longshore tap: ${error.message}\n${USAGE}`);
      return 2;
    }
    const stop = new AbortController();
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => stop.abort());
    return tap(options, io, stop.signal);
  }
  if (cmd === 'status') {
    // Loaded only here: it pulls in the NATS and Redis clients.
    const { parseStatusArgs, status, StatusUsageError } = await import('./status.ts');
    let options: ReturnType<typeof parseStatusArgs>;
    try {
      options = parseStatusArgs(rest);
    } catch (error) {
      if (!(error instanceof StatusUsageError)) throw error;
      io.err(`longshore status: ${error.message}\n${USAGE}`);
      return 2;
    }
    return status(options, io);
  }
  io.err(USAGE);
  return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  io.err(`longshore: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
