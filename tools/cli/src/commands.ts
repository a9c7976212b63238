// The `longshore` command line as data: each command's usage, and how an argv becomes one
// Invocation (what to run, or what to print and with which exit status). Pure, so that
// tests call it directly; cli.ts does the I/O, and loads a command's module only when that
// command runs (start, tap and status pull in the test bed, NATS, Redis and Kubernetes clients).
//
// Conventions, as most command lines keep them: help (`--help`, `-h`, `help [COMMAND]`) and
// `--version` go to stdout with status 0; a command line that is wrong goes to stderr with
// that command's usage and status 2; any other failure is status 1. Nothing is coloured
// (timeline.ts says why), so a terminal, a pipe and NO_COLOR all get the same text.
import { parseArgs } from 'node:util';
import { parseDuration } from '@longshore/config';
// The CLI package's own version, inlined into dist/longshore.mjs by the bundler, so the
// image answers without a package.json beside it. The chart's appVersion names the same
// release (deploy/helm/longshore/Chart.yaml).
import cliPackage from '../package.json' with { type: 'json' };
import type { StartOptions } from './start.ts';
import type { FleetPageOptions } from './ui/server.ts';

export const VERSION: string = cliPackage.version;

/** Exit statuses: success, a failure while running, a command line that is wrong. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export type CommandName = 'start' | 'tap' | 'status' | 'ui' | 'config check';

/** A wrong command line: print `message` and `usage` on stderr and exit 2. */
export interface UsageError {
  readonly kind: 'usage-error';
  readonly message: string;
  readonly usage: string;
}

/** What to do for one command line. */
export type Invocation =
  /** Print `text` on stdout and exit 0 (help, version). */
  | { readonly kind: 'print'; readonly text: string }
  | UsageError
  | { readonly kind: 'start'; readonly options: StartOptions }
  | { readonly kind: 'ui'; readonly options: UiOptions }
  | { readonly kind: 'config check'; readonly file: string | undefined; readonly cluster: boolean }
  /** tap and status parse their own options (tap.ts, status.ts); help is answered here first. */
  | { readonly kind: 'tap' | 'status'; readonly args: readonly string[] };

const COMMAND_USAGE: Readonly<Record<CommandName, string>> = {
  start: `usage: longshore start [--once] [--namespace NAMESPACE] [--sim-port PORT] [--ui-port PORT]

Runs the main job against the local stack (what \`npm start\` runs): brings up the test bed of
this clone (or reuses a running one), the Runner API simulator and the five services, enqueues
a demo and streams its events as a timeline; prints the fleet page's URL (longshore ui).

  --once                stop when the demo has ended; exit 0 only if every part ended as expected
  --namespace NAMESPACE where task pods and VM pools go (default longshore-tasks)
  --sim-port PORT       the simulator's port (default 0: any free port)
  --ui-port PORT        the fleet page's port (default 8470; taken or 0: any free port)`,

  tap: `usage: longshore tap [FILTER] [--json] [--task ID] [--resource-class RC] [--since DURATION]
                     [--prefix PREFIX] [--nats URL]

Prints bus events as a timeline per task until Ctrl-C.

  FILTER                a subject under the prefix: task.>, scaler.decision, ... (default: all)
  --json                one JSON object per line: {subject, seq, time, payload}
  --task ID             only this task's events (its id or a prefix of it)
  --resource-class RC   only this resource class's events
  --since DURATION      first replay what the stream kept from this long ago (10m, 1h), then follow
  --prefix PREFIX       the services' subject prefix (default longshore)
  --nats URL            where to connect (default $NATS_URL, then the test bed's, then localhost)`,

  status: `usage: longshore status [--json] [--prefix PREFIX] [--key-prefix PREFIX] [--nats URL] [--redis URL]

Per resource class: claiming enabled or disabled (and why: failed constraint checks, a
refused token), the scheduler's pod check, open and dropped claims.

  --json                the same as one JSON document
  --prefix PREFIX       the services' subject prefix (default longshore)
  --key-prefix PREFIX   the services' Redis key prefix (default: the subject prefix)
  --nats URL            the bus (default $NATS_URL, then the test bed's, then localhost)
  --redis URL           Redis (default $REDIS_URL, then the test bed's, then localhost)`,

  ui: `usage: longshore ui [--port PORT] [--host HOST] [--metrics URL]... [--window DURATION]
                    [--prefix PREFIX] [--nats URL]

Serves the fleet page and prints its URL, until Ctrl-C: per resource class, claiming on or
off and why, in flight against the cap, stage latencies, endings and retries; a live timeline
of tasks (click one for its events); VM pools, desired against ready. It reads the bus, and
the services' /metrics when given; it writes nothing.

  --port PORT           where to serve (default 8470; 0: any free port)
  --host HOST           the address to listen on (default 127.0.0.1: this machine only)
  --metrics URL         a service's /metrics, for in-flight counts, caps and ready VMs; repeat
                        for each service and replica (without: in flight is counted on the bus)
  --window DURATION     how far back the page reaches, replayed at start (default 15m)
  --prefix PREFIX       the services' subject prefix (default longshore)
  --nats URL            the bus (default $NATS_URL, then the test bed's, then localhost)`,

  'config check': `usage: longshore config check [FILE] [--cluster]

Validates a config file (default $LONGSHORE_CONFIG) as every service does at start, and
prints what it would run with (never a token). Exit 0 valid, 2 invalid or a pod refused,
1 the cluster could not be asked.

  --cluster             also send each class's task pod to the cluster of KUBECONFIG as a
                        server-side dry run (nothing is created)`,
};

/** The whole command line's usage: every command's first line, and where to read more. */
export const USAGE = `usage: longshore COMMAND [OPTIONS]

commands:
  start          the main job against the local stack (npm start)
  tap            print bus events as a timeline per task
  status         per resource class: claiming on or off and why, open claims
  ui             serve the fleet page (classes, a live task timeline, VM pools)
  config check   validate a config file; --cluster also dry-runs each class's task pod

  longshore help COMMAND, or longshore COMMAND --help, shows a command's options.
  longshore --version prints the version.`;

/** A command's usage, as `longshore COMMAND --help` prints it. */
export function usageOf(command: CommandName): string {
  return COMMAND_USAGE[command];
}

/** Whether the arguments ask for help: `--help` or `-h` before a `--`. */
export function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Which command `argv` names, and how many of its words the name takes (`config check`: 2). */
function commandOf(argv: readonly string[]): { command: CommandName; words: number } | undefined {
  const [first, second] = argv;
  if (first === 'config' && second === 'check') return { command: 'config check', words: 2 };
  if (first === 'start' || first === 'tap' || first === 'status' || first === 'ui')
    return { command: first, words: 1 };
  return undefined;
}

/**
 * A wrong command line: `longshore COMMAND: message` and that command's usage, or
 * `longshore: message` and the whole usage when no command was recognised.
 */
export function usageError(command: CommandName | undefined, message: string): UsageError {
  return command === undefined
    ? { kind: 'usage-error', message: `longshore: ${message}`, usage: USAGE }
    : { kind: 'usage-error', message: `longshore ${command}: ${message}`, usage: usageOf(command) };
}

/** Turns the command line (without `node cli.ts`) into what to do. */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const [first] = argv;
  if (first === undefined) return usageError(undefined, 'missing command');
  if (first === '--help' || first === '-h') return { kind: 'print', text: USAGE };
  if (first === '--version') return { kind: 'print', text: VERSION };
  if (first === 'help') return helpFor(argv.slice(1));
  // `config` has one subcommand: `config --help` shows it, `config` alone is missing it.
  if (first === 'config' && argv[1] === undefined) {
    return {
      kind: 'usage-error',
      message: 'longshore config: missing subcommand: check',
      usage: usageOf('config check'),
    };
  }
  if (first === 'config' && asksForHelp(argv.slice(1, 2))) {
    return { kind: 'print', text: usageOf('config check') };
  }
  const named = commandOf(argv);
  if (named === undefined) {
    const what = first === 'config' ? `config ${argv[1]}` : first;
    return usageError(undefined, `${what.startsWith('-') ? 'unknown option' : 'unknown command'}: ${what}`);
  }
  const args = argv.slice(named.words);
  if (asksForHelp(args)) return { kind: 'print', text: usageOf(named.command) };
  try {
    switch (named.command) {
      case 'start':
        return { kind: 'start', options: parseStartArgs(args) };
      case 'ui':
        return { kind: 'ui', options: parseUiArgs(args) };
      case 'config check':
        return { kind: 'config check', ...parseConfigCheckArgs(args) };
      case 'tap':
      case 'status':
        return { kind: named.command, args };
    }
  } catch (err) {
    // parseArgs's own errors (an unknown option, a missing value) and ours below.
    return usageError(named.command, err instanceof Error ? err.message : String(err));
  }
}

/** `help`, `help COMMAND`. */
function helpFor(args: readonly string[]): Invocation {
  if (args.length === 0) return { kind: 'print', text: USAGE };
  if (args.length === 1 && args[0] === 'config') return { kind: 'print', text: usageOf('config check') };
  const named = commandOf(args);
  if (named === undefined || args.length > named.words) {
    return usageError(undefined, `help: unknown command: ${args.join(' ')}`);
  }
  return { kind: 'print', text: usageOf(named.command) };
}

/** Options that parseArgs takes but that are still wrong (a port that is not a number). */
class CommandLineError extends Error {
  override name = 'CommandLineError';
}

function parseStartArgs(args: readonly string[]): StartOptions {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      once: { type: 'boolean', default: false },
      namespace: { type: 'string', default: 'longshore-tasks' },
      'sim-port': { type: 'string', default: '0' },
      'ui-port': { type: 'string', default: String(DEFAULT_UI_PORT) },
    },
  });
  if (values.namespace === '') throw new CommandLineError('--namespace must not be empty');
  return {
    once: values.once,
    namespace: values.namespace,
    simPort: portOption('--sim-port', values['sim-port']),
    uiPort: portOption('--ui-port', values['ui-port']),
  };
}

function portOption(name: string, value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw new CommandLineError(`${name} must be a port number (0-65535), not "${value}"`);
  return port;
}

/** What `longshore ui` runs with. */
export type UiOptions = Required<Pick<FleetPageOptions, 'port' | 'host' | 'metricsUrls' | 'windowMs'>> &
  Pick<FleetPageOptions, 'prefix' | 'natsUrl'>;

export const DEFAULT_UI_PORT = 8470;

function parseUiArgs(args: readonly string[]): UiOptions {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      port: { type: 'string', default: String(DEFAULT_UI_PORT) },
      host: { type: 'string', default: '127.0.0.1' },
      metrics: { type: 'string', multiple: true, default: [] },
      window: { type: 'string', default: '15m' },
      prefix: { type: 'string' },
      nats: { type: 'string' },
    },
  });
  const port = portOption('--port', values.port);
  if (values.host === '') throw new CommandLineError('--host must not be empty');
  for (const url of values.metrics) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new CommandLineError(`--metrics must be an http(s) URL, not "${url}"`);
  }
  let windowMs: number;
  try {
    windowMs = parseDuration(values.window);
  } catch (err) {
    throw new CommandLineError(`--window: ${(err as Error).message}`);
  }
  if (windowMs < 60_000) throw new CommandLineError('--window must be at least 1m');
  return {
    port,
    host: values.host,
    metricsUrls: values.metrics,
    windowMs,
    ...(values.prefix === undefined ? {} : { prefix: values.prefix }),
    ...(values.nats === undefined ? {} : { natsUrl: values.nats }),
  };
}

function parseConfigCheckArgs(args: readonly string[]): { file: string | undefined; cluster: boolean } {
  const { positionals, values } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { cluster: { type: 'boolean', default: false } },
  });
  if (positionals.length > 1) throw new CommandLineError('takes at most one FILE');
  return { file: positionals[0], cluster: values.cluster };
}
