#!/usr/bin/env node
// The `longshore` command line: the main job (`start`) and tools for operators.
import { parseArgs } from 'node:util';
import { configCheck, type Io } from './config-check.ts';

const USAGE = `usage:
  longshore start [--once] [--namespace longshore-tasks] [--sim-port 0]
                                  the main job against the local stack (npm start)
  longshore config check [FILE]   validate a config file (default $LONGSHORE_CONFIG)
  longshore tap [FILTER] [--json] [--task ID] [--resource-class RC] [--since 10m]
                [--prefix longshore] [--nats URL]
                                  print bus events as a timeline per task (FILTER: task.>,
                                  scaler.decision, ...; default all); --since replays first`;

const io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'config' && rest[0] === 'check') {
    const { positionals } = parseArgs({ args: rest.slice(1), allowPositionals: true, strict: true });
    return configCheck(positionals[0], io);
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
    // Loaded only here: it pulls in the test bed and the simulator.
    const { start } = await import('./start.ts');
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
  io.err(USAGE);
  return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  io.err(`longshore: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
