import { describe, expect, it } from 'vitest';
import cliPackage from '../package.json' with { type: 'json' };
import { asksForHelp, type CommandName, parseCommandLine, USAGE, usageOf, VERSION } from './commands.ts';

const COMMANDS: [CommandName, string[]][] = [
  ['start', ['start']],
  ['tap', ['tap']],
  ['status', ['status']],
  ['config check', ['config', 'check']],
];

describe('parseCommandLine: help and version', () => {
  it.each([[['--help']], [['-h']], [['help']]])('%j prints the whole usage', (argv) => {
    expect(parseCommandLine(argv)).toEqual({ kind: 'print', text: USAGE });
  });

  it.each(COMMANDS)('every command answers --help, -h and help with its own usage: %s', (command, words) => {
    const own = { kind: 'print', text: usageOf(command) };
    expect(parseCommandLine([...words, '--help'])).toEqual(own);
    expect(parseCommandLine([...words, '-h'])).toEqual(own);
    expect(parseCommandLine(['help', ...words])).toEqual(own);
    // Help wins over whatever else is on the line, even options that would be refused.
    expect(parseCommandLine([...words, '--bogus', '--help'])).toEqual(own);
    expect(usageOf(command)).toContain(`usage: longshore ${command}`);
  });

  it('shows config check for `config --help` and `help config`', () => {
    const own = { kind: 'print', text: usageOf('config check') };
    expect(parseCommandLine(['config', '--help'])).toEqual(own);
    expect(parseCommandLine(['help', 'config'])).toEqual(own);
  });

  it("prints the CLI package's version", () => {
    expect(VERSION).toBe(cliPackage.version);
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'print', text: VERSION });
  });

  it('lists every command in the whole usage', () => {
    for (const [command] of COMMANDS) expect(USAGE).toMatch(new RegExp(`^  ${command} `, 'm'));
  });
});

describe('parseCommandLine: usage errors', () => {
  it.each([
    [['x'], 'longshore: unknown command: x'],
    [['--bogus'], 'longshore: unknown option: --bogus'],
    [[], 'longshore: missing command'],
    [['config', 'x'], 'longshore: unknown command: config x'],
    [['help', 'x'], 'longshore: help: unknown command: x'],
    [['help', 'tap', 'x'], 'longshore: help: unknown command: tap x'],
  ])('%j is refused with the whole usage', (argv, message) => {
    expect(parseCommandLine(argv)).toEqual({ kind: 'usage-error', message, usage: USAGE });
  });

  it.each([
    [['start', '--bogus'], 'start', /^longshore start: Unknown option '--bogus'/],
    [['start', '--sim-port', 'abc'], 'start', /--sim-port must be a port number/],
    [['start', '--sim-port', '70000'], 'start', /--sim-port must be a port number/],
    [['start', '--sim-port', '-1'], 'start', /--sim-port/],
    [['start', '--namespace='], 'start', /--namespace must not be empty/],
    [['start', 'extra'], 'start', /Unexpected argument 'extra'/],
    [
      ['config', 'check', 'a.yaml', 'b.yaml'],
      'config check',
      /^longshore config check: takes at most one FILE/,
    ],
    [['config', 'check', '--clutser'], 'config check', /Unknown option '--clutser'/],
  ] as const)('%j is refused with its command usage', (argv, command, message) => {
    const result = parseCommandLine(argv);
    expect(result).toMatchObject({ kind: 'usage-error', usage: usageOf(command) });
    expect(result.kind === 'usage-error' && result.message).toMatch(message);
  });

  it('refuses `config` without its subcommand, showing it', () => {
    expect(parseCommandLine(['config'])).toEqual({
      kind: 'usage-error',
      message: 'longshore config: missing subcommand: check',
      usage: usageOf('config check'),
    });
  });
});

describe('parseCommandLine: commands to run', () => {
  it('reads start with its defaults, as npm start runs it', () => {
    expect(parseCommandLine(['start'])).toEqual({
      kind: 'start',
      options: { once: false, namespace: 'longshore-tasks', simPort: 0, uiPort: 8470 },
    });
    expect(
      parseCommandLine(['start', '--once', '--namespace', 'ns1', '--sim-port', '8080', '--ui-port', '0']),
    ).toEqual({
      kind: 'start',
      options: { once: true, namespace: 'ns1', simPort: 8080, uiPort: 0 },
    });
  });

  it('reads ui with its defaults and its options, and refuses what it cannot use', () => {
    expect(parseCommandLine(['ui'])).toEqual({
      kind: 'ui',
      options: { port: 8470, host: '127.0.0.1', metricsUrls: [], windowMs: 15 * 60_000 },
    });
    expect(
      parseCommandLine([
        'ui',
        '--port=0',
        '--host',
        '0.0.0.0',
        '--metrics',
        'http://claimer:9090/metrics',
        '--metrics',
        'http://scheduler:9090/metrics',
        '--window',
        '1h',
        '--prefix',
        'p1',
        '--nats',
        'nats://n:4222',
      ]),
    ).toEqual({
      kind: 'ui',
      options: {
        port: 0,
        host: '0.0.0.0',
        metricsUrls: ['http://claimer:9090/metrics', 'http://scheduler:9090/metrics'],
        windowMs: 3_600_000,
        prefix: 'p1',
        natsUrl: 'nats://n:4222',
      },
    });
    const refused = (args: string[]) => {
      const r = parseCommandLine(['ui', ...args]);
      return r.kind === 'usage-error' ? r.message : r.kind;
    };
    expect(refused(['--port', '70000'])).toBe(
      'longshore ui: --port must be a port number (0-65535), not "70000"',
    );
    expect(refused(['--metrics', 'claimer:9090'])).toBe(
      'longshore ui: --metrics must be an http(s) URL, not "claimer:9090"',
    );
    expect(refused(['--window', '10s'])).toBe('longshore ui: --window must be at least 1m');
    expect(refused(['--window', 'soon'])).toMatch(/^longshore ui: --window: /);
    expect(refused(['extra'])).toMatch(/^longshore ui: /);
  });

  it('reads config check with or without a file', () => {
    expect(parseCommandLine(['config', 'check'])).toEqual({
      kind: 'config check',
      file: undefined,
      cluster: false,
    });
    expect(parseCommandLine(['config', 'check', 'v.yaml', '--cluster'])).toEqual({
      kind: 'config check',
      file: 'v.yaml',
      cluster: true,
    });
  });

  it('hands tap and status their arguments (they parse their own options)', () => {
    expect(parseCommandLine(['tap', 'task.>', '--since', '10m'])).toEqual({
      kind: 'tap',
      args: ['task.>', '--since', '10m'],
    });
    expect(parseCommandLine(['status', '--json'])).toEqual({ kind: 'status', args: ['--json'] });
  });

  it('takes a -h after `--` as an argument, not as help', () => {
    expect(parseCommandLine(['tap', '--', '-h'])).toEqual({ kind: 'tap', args: ['--', '-h'] });
    expect(asksForHelp(['--', '--help'])).toBe(false);
    expect(asksForHelp(['x', '-h'])).toBe(true);
  });
});
