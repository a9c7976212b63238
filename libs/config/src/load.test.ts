import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { type Env, loadConfig, loadLongshoreConfig, parseConfig } from './load.ts';
import { LONGSHORE_ENV_ALIASES, LongshoreConfig } from './schema.ts';

function parse(text: string | undefined, env: Env = {}) {
  return parseConfig({
    schema: LongshoreConfig,
    text,
    source: '/etc/longshore/config.yaml',
    env,
    envAliases: LONGSHORE_ENV_ALIASES,
  });
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** "Billion laughs": `levels` lists of nine aliases of the one before, 9^levels strings in all. */
function aliasBomb(levels: number, flow = false): string {
  const lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++)
    lines.push(
      `l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(',')}]`,
    );
  return flow ? `{${lines.join(', ')}}` : `${lines.join('\n')}\n`;
}

describe('env overrides', () => {
  it('sets nested keys, reading values as YAML scalars', () => {
    const cfg = parse('agent: {maxConcurrentTasks: 2}', {
      LONGSHORE__agent__maxConcurrentTasks: '5',
      LONGSHORE__agent__autodetectPlatform: 'false',
      LONGSHORE__agent__maxRunTime: '2h',
      LONGSHORE__http__port: '9090',
      OTHER__agent__maxConcurrentTasks: '7',
    });
    expect(cfg.agent.maxConcurrentTasks).toBe(5);
    expect(cfg.agent.autodetectPlatform).toBe(false);
    expect(cfg.agent.maxRunTime).toBe(7_200_000);
    expect(cfg.http.port).toBe(9090);
  });

  it('creates mappings on the way, keeping key case and resource class names as written', () => {
    const cfg = parse(undefined, {
      'LONGSHORE__agent__resourceClasses__my-org/Fast__token': 'abcdef123456',
      'LONGSHORE__agent__resourceClasses__my-org/Fast__enableUnsafeRetries': 'true',
    });
    expect(cfg.agent.resourceClasses['my-org/Fast']).toEqual({
      token: 'abcdef123456',
      enableUnsafeRetries: true,
    });
  });

  it('applies a mapping before the keys inside it, and indexes existing lists', () => {
    const cfg = parse('provisioner: {existingSecret: s, resourceClasses: [{name: a/b}]}', {
      LONGSHORE__provisioner__resourceClasses__0__maxReplicas: '4',
      LONGSHORE__logging: '{level: debug}',
      LONGSHORE__logging__level: 'warn',
    });
    expect(cfg.provisioner?.resourceClasses[0]?.maxReplicas).toBe(4);
    expect(cfg.logging.level).toBe('warn');
  });

  it('keeps a string key a string when its value looks like a number', () => {
    const cfg = parse(undefined, {
      'LONGSHORE__agent__resourceClasses__a/b__token': '123e4567',
      LONGSHORE__agent__name: '0x10',
    });
    expect(cfg.agent.resourceClasses['a/b']?.token).toBe('123e4567');
    expect(cfg.agent.name).toBe('0x10');
  });

  it('lets NATS_URL and REDIS_URL override the file, and LONGSHORE__ override those', () => {
    const file = 'bus: {url: "nats://file:4222"}\nredis: {url: "redis://file:6379"}';
    const env = { NATS_URL: 'nats://env:4222', REDIS_URL: 'redis://env:6379' };
    expect(parse(file, env).bus.url).toBe('nats://env:4222');
    expect(parse(file, env).redis.url).toBe('redis://env:6379');
    expect(parse(file, { ...env, LONGSHORE__bus__url: 'nats://explicit:4222' }).bus.url).toBe(
      'nats://explicit:4222',
    );
    expect(parse(file, { NATS_URL: '' }).bus.url).toBe('nats://file:4222');
  });

  it('sets the idle waits of the claim loop, checked against the file', () => {
    expect(
      parse('agent: {idleWait: {first: 50ms}}', { LONGSHORE__agent__idleWait__max: '250ms' }).agent.idleWait,
    ).toEqual({ first: 50, max: 250 });
    expect(
      errorOf(() => parse('agent: {idleWait: {first: 2s}}', { LONGSHORE__agent__idleWait__max: '1500ms' }))
        .message,
    ).toBe(
      'invalid config /etc/longshore/config.yaml: agent.idleWait.first: must not exceed agent.idleWait.max (1.5s)',
    );
  });

  it('names the variable when its value is invalid', () => {
    const err = errorOf(() => parse(undefined, { LONGSHORE__agent__maxRunTime: '5x' }));
    expect(err.message).toBe(
      'invalid config /etc/longshore/config.yaml: agent.maxRunTime: invalid duration "5x": unknown unit "x"; ' +
        'valid units are ns, us (or µs), ms, s, m, h (set by environment variable LONGSHORE__agent__maxRunTime)',
    );
  });

  it('rejects a path through a value that is not a mapping, and empty segments', () => {
    expect(errorOf(() => parse('agent: {name: x}', { LONGSHORE__agent__name__first: 'y' })).message).toBe(
      'invalid config /etc/longshore/config.yaml: environment variable LONGSHORE__agent__name__first: agent.name is a string, not a mapping',
    );
    expect(errorOf(() => parse(undefined, { LONGSHORE__agent____name: 'y' })).message).toMatch(
      /empty key segment/,
    );
  });

  it('a value that is not valid YAML names the variable and the reason', () => {
    expect(errorOf(() => parse(undefined, { LONGSHORE__agent__name: '[unclosed' })).message).toBe(
      'invalid config /etc/longshore/config.yaml: environment variable LONGSHORE__agent__name: YAML syntax error ' +
        'at column 10: Flow sequence must end with a ] ' +
        '(the value is read as YAML: quote a string that is not valid YAML on its own)',
    );
  });

  it('a token that is not valid YAML is reported without the reason, which could quote it', () => {
    const err = errorOf(() =>
      parse(undefined, { 'LONGSHORE__agent__resourceClasses__a/b__token': '"tok\\q-s3cr3t' }),
    );
    expect(err.message).toBe(
      'invalid config /etc/longshore/config.yaml: environment variable LONGSHORE__agent__resourceClasses__a/b__token: ' +
        'the value is not valid YAML (the value is read as YAML: quote a string that is not valid YAML on its own)',
    );
    expect(err.cause).toBeUndefined();
  });

  it('an alias bomb in a value is refused, naming the variable', () => {
    expect(errorOf(() => parse(undefined, { LONGSHORE__agent: aliasBomb(6, true) })).message).toMatch(
      /^invalid config \/etc\/longshore\/config\.yaml: environment variable LONGSHORE__agent: too many alias expansions/,
    );
  });

  it('takes NATS_URL and REDIS_URL as written, not as YAML, but trimmed', () => {
    // A URL kept in a Secret made from a file ends in a newline.
    expect(parse(undefined, { REDIS_URL: 'redis://:pw@redis:6379/0\n' }).redis.url).toBe(
      'redis://:pw@redis:6379/0',
    );
    // As YAML, this would be a one-entry list.
    expect(errorOf(() => parse(undefined, { NATS_URL: '[nats://a:4222]' })).message).toBe(
      'invalid config /etc/longshore/config.yaml: bus.url: must be a nats:// or tls:// URL (or host:port), ' +
        'or a comma-separated list of them (set by environment variable NATS_URL)',
    );
  });

  it('honours another prefix', () => {
    const cfg = parseConfig({ schema: LongshoreConfig, env: { LS_http__port: '1' }, envPrefix: 'LS_' });
    expect(cfg.http.port).toBe(1);
  });
});

describe('errors name the source, the key and the reason', () => {
  it('one issue: one line', () => {
    const err = errorOf(() => parse('agent:\n  maxRunTime: 5x\n'));
    expect(err.name).toBe('ConfigError');
    expect(err.source).toBe('/etc/longshore/config.yaml');
    expect(err.message).toMatch(
      /^invalid config \/etc\/longshore\/config\.yaml: agent\.maxRunTime: invalid duration "5x": unknown unit "x"/,
    );
    expect(err.cause).toBeInstanceOf(z.ZodError);
  });

  it('several issues: one per line', () => {
    const err = errorOf(() =>
      parse('agent: {maxRunTime: 5x, maxConcurrentTasks: 0}\nhttp: {port: "eighty"}'),
    );
    expect(err.message.split('\n')).toEqual([
      'invalid config /etc/longshore/config.yaml: 3 problems:',
      '  agent.maxConcurrentTasks: Too small: expected number to be >=1',
      '  agent.maxRunTime: invalid duration "5x": unknown unit "x"; valid units are ns, us (or µs), ms, s, m, h',
      '  http.port: Invalid input: expected number, received string',
    ]);
  });

  it('a YAML syntax error names the line, without quoting it', () => {
    const text = 'agent:\n  resourceClasses:\n    a/b: {token: "s3cr3t-token-value", spec: [}\n';
    const err = errorOf(() => parse(text));
    expect(err.message).toMatch(/^invalid config \/etc\/longshore\/config\.yaml: /);
    expect(err.message).toMatch(/YAML syntax error at line 3, column \d+: Flow sequence/);
    expect(err.message).not.toContain('s3cr3t');
  });

  it('an alias bomb is refused before it expands', () => {
    const err = errorOf(() => parse(aliasBomb(9)));
    expect(err.message).toBe(
      'invalid config /etc/longshore/config.yaml: too many alias expansions: the YAML aliases (*name) expand to ' +
        'more than 100 copies of their anchors; is it an alias bomb?',
    );
  });

  it('anchors and merge keys used as configs use them still work', () => {
    const cfg = parse(`
defaults: &defaults {enableUnsafeRetries: true, maxConcurrentTasks: 2}
agent:
  resourceClasses:
${Array.from({ length: 30 }, (_, i) => `    acme/rc${i}: {<<: *defaults, token: tok-${i}}`).join('\n')}
`);
    expect(Object.keys(cfg.agent.resourceClasses)).toHaveLength(30);
    expect(cfg.agent.resourceClasses['acme/rc29']).toMatchObject({
      enableUnsafeRetries: true,
      maxConcurrentTasks: 2,
    });
  });

  it('an alias without its anchor, and a merge of a non-mapping, are errors of the file', () => {
    expect(errorOf(() => parse('agent: {name: *nowhere}')).message).toMatch(
      /^invalid config \/etc\/longshore\/config\.yaml: cannot read the YAML: Unresolved alias/,
    );
    expect(errorOf(() => parse('agent: {<<: 5}')).message).toBe(
      'invalid config /etc/longshore/config.yaml: cannot read the YAML: Merge sources must be maps or map aliases',
    );
  });

  it('a document that is not a mapping', () => {
    expect(errorOf(() => parse('- a\n- b\n')).message).toBe(
      'invalid config /etc/longshore/config.yaml: the top level must be a mapping, not a list',
    );
  });

  it('without a file, says the config came from defaults and environment', () => {
    const err = errorOf(() => parseConfig({ schema: LongshoreConfig, env: { LONGSHORE__http__port: '-1' } }));
    expect(err.message).toMatch(/^invalid config <defaults and environment>: http\.port: /);
  });
});

describe('secrets are never echoed', () => {
  it('an unquoted numeric token is reported without its value', () => {
    const err = errorOf(() => parse('agent:\n  resourceClasses:\n    a/b:\n      token: 98765432109876\n'));
    expect(err.message).toBe(
      'invalid config /etc/longshore/config.yaml: agent.resourceClasses["a/b"].token: Invalid input: expected string, ' +
        'received number (quote the value so YAML reads it as a string)',
    );
    expect(err.message).not.toContain('98765432109876');
    expect(String(err.cause)).not.toContain('98765432109876');
  });

  it('a message that would quote a secret key value is redacted', () => {
    // A schema whose check (wrongly) quotes the value: the loader still hides it.
    const schema = z.object({
      auth: z.object({
        token: z
          .string()
          .superRefine((v, ctx) => ctx.addIssue({ code: 'custom', message: `token ${v} is revoked` })),
      }),
    });
    const err = errorOf(() =>
      parseConfig({ schema, text: 'auth: {token: very-secret-value}', source: 'f.yaml', env: {} }),
    );
    expect(err.message).toBe('invalid config f.yaml: auth.token: token [redacted] is revoked');
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'longshore-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the file, then env', async () => {
    const file = join(dir, 'ok.yaml');
    await writeFile(file, 'agent:\n  maxConcurrentTasks: 3\n  name: from-file\n');
    const cfg = await loadConfig({
      schema: LongshoreConfig,
      file,
      env: { LONGSHORE__agent__name: 'from-env' },
    });
    expect(cfg.agent.maxConcurrentTasks).toBe(3);
    expect(cfg.agent.name).toBe('from-env');
  });

  it('an invalid file: error names the path, the key and the reason', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'agent:\n  gc:\n    interval: 3\n');
    await expect(loadConfig({ schema: LongshoreConfig, file, env: {} })).rejects.toThrow(
      `invalid config ${file}: agent.gc.interval: invalid duration "3": missing unit (e.g. "3s" or "3m")`,
    );
  });

  it('a YAML syntax error names the file and line', async () => {
    const file = join(dir, 'syntax.yaml');
    await writeFile(file, 'agent:\n  name: a\n name: b\n');
    await expect(loadConfig({ schema: LongshoreConfig, file, env: {} })).rejects.toThrow(
      `invalid config ${file}: YAML syntax error at line 3, column 1: All mapping items must start at the same column`,
    );
  });

  it('an alias bomb in the file is a ConfigError naming the file', async () => {
    const file = join(dir, 'bomb.yaml');
    await writeFile(file, aliasBomb(9));
    const err = await loadLongshoreConfig({ file, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(
      new RegExp(`^invalid config ${file.replaceAll('/', '\\/')}: too many alias expansions`),
    );
  });

  it('a missing file is an error when a path was given', async () => {
    const file = join(dir, 'nope.yaml');
    const err = await loadConfig({ schema: LongshoreConfig, file, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`invalid config ${file}: file not found`);
    expect((err as ConfigError).cause).toMatchObject({ code: 'ENOENT' });
  });

  it('loadLongshoreConfig takes the path from LONGSHORE_CONFIG and applies NATS_URL', async () => {
    const file = join(dir, 'ls.yaml');
    await writeFile(file, 'http: {port: 1234}\n');
    const cfg = await loadLongshoreConfig({ env: { LONGSHORE_CONFIG: file, NATS_URL: 'nats://n:4222' } });
    expect(cfg.http.port).toBe(1234);
    expect(cfg.bus.url).toBe('nats://n:4222');
    expect((await loadLongshoreConfig({ env: {} })).http.port).toBe(8080);
  });
});
