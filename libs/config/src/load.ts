// Reading a configuration: one YAML file, then environment overrides, then zod. Every
// failure becomes a ConfigError naming the source, the key and the reason. Parsing is a
// pure function of (text, env) so it is tested without files; loadConfig adds the read.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { isRecord } from './blocks.ts';
import { ConfigError, type ConfigIssue, formatPath } from './errors.ts';
import { LONGSHORE_ENV_ALIASES, LongshoreConfig } from './schema.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_ENV_PREFIX = 'LONGSHORE__';

/** Keys whose values are secrets: never echoed in an error message. */
const SECRET_KEYS = new Set(['token', 'circleToken', 'circle-token', 'password', 'task_token']);

/**
 * Most nodes a document may reach through aliases (yaml's `maxAliasCount`, its default
 * written out): a config reuses an anchor a few times, while an alias bomb ("billion
 * laughs") nests them to expand exponentially and would exhaust the memory.
 */
const MAX_ALIAS_COUNT = 100;

export interface ParseConfigOptions<S extends z.ZodType> {
  readonly schema: S;
  /** YAML text; undefined when there is no file (defaults and environment only). */
  readonly text?: string | undefined;
  /** Named in errors: the file path, or a description. */
  readonly source?: string | undefined;
  readonly env?: Env | undefined;
  /** Prefix of override variables, e.g. LONGSHORE__agent__maxConcurrentTasks=5. */
  readonly envPrefix?: string | undefined;
  /** Plain variables that set one key each, e.g. { NATS_URL: 'bus.url' }. LONGSHORE__ ones win. */
  readonly envAliases?: Readonly<Record<string, string>> | undefined;
}

export interface LoadConfigOptions<S extends z.ZodType>
  extends Omit<ParseConfigOptions<S>, 'text' | 'source'> {
  /** Path of the YAML file. When given, it must exist. */
  readonly file?: string | undefined;
}

const NO_FILE = '<defaults and environment>';

/** Reads and validates a configuration file (if any) with env overrides. Throws ConfigError. */
export async function loadConfig<S extends z.ZodType>(options: LoadConfigOptions<S>): Promise<z.output<S>> {
  const { file, ...rest } = options;
  let text: string | undefined;
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`;
      throw new ConfigError(file, [{ path: '', message: reason }], { cause: err });
    }
  }
  return parseConfig({ ...rest, text, source: file });
}

/** loadConfig for LongshoreConfig: the file defaults to $LONGSHORE_CONFIG; NATS_URL and REDIS_URL apply. */
export function loadLongshoreConfig(options: { file?: string; env?: Env } = {}): Promise<LongshoreConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? (env.LONGSHORE_CONFIG || undefined);
  return loadConfig({ schema: LongshoreConfig, file, env, envAliases: LONGSHORE_ENV_ALIASES });
}

/** Parses YAML text, applies env overrides and validates. Pure apart from reading `env`. */
export function parseConfig<S extends z.ZodType>(options: ParseConfigOptions<S>): z.output<S> {
  const source = options.source ?? NO_FILE;
  const fromFile = options.text === undefined ? {} : parseYamlMapping(options.text, source);
  const { data, overrides } = applyEnv(
    fromFile,
    options.env ?? process.env,
    options.envPrefix ?? DEFAULT_ENV_PREFIX,
    options.envAliases ?? {},
    source,
  );

  let result = options.schema.safeParse(data);
  // An env value is parsed as YAML so numbers and booleans work, but a string key's value
  // may look like a number (a hex token such as 123e4567 parses as Infinity). Where the
  // schema wanted a string there, use the text as written and validate again.
  if (!result.success) {
    let retry = false;
    for (const issue of result.error.issues) {
      const o = overrides.get(pathKey(issue.path));
      if (o && issue.code === 'invalid_type' && issue.expected === 'string' && typeof o.value !== 'string') {
        setAt(data, issue.path, o.text);
        retry = true;
      }
    }
    if (retry) result = options.schema.safeParse(data);
  }
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => toConfigIssue(i, data, overrides));
  throw new ConfigError(source, issues, { cause: result.error });
}

function parseYamlMapping(text: string, source: string): Record<string, unknown> {
  const read = readYaml(text);
  if (!read.ok) {
    const issues = read.problems.map((p) => ({
      path: '',
      message:
        p.line === undefined ? p.message : `${p.message} at line ${p.line}, column ${p.col}: ${p.detail}`,
    }));
    throw new ConfigError(source, issues, { cause: read.cause });
  }
  const value = read.value;
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) {
    throw new ConfigError(source, [
      { path: '', message: `the top level must be a mapping, not ${kindOf(value)}` },
    ]);
  }
  return value;
}

type YamlRead =
  | { readonly ok: true; readonly value: unknown }
  | {
      readonly ok: false;
      readonly problems: readonly {
        readonly message: string;
        readonly line?: number;
        readonly col?: number;
        readonly detail?: string;
      }[];
      readonly cause?: unknown;
    };

/**
 * Parses and composes one YAML document. Every failure is returned, never thrown: syntax
 * errors with their position and yaml's reason, and composing errors (aliases expanding
 * past MAX_ALIAS_COUNT, bad merge keys) with what went wrong.
 */
function readYaml(text: string): YamlRead {
  const lineCounter = new LineCounter();
  // prettyErrors off: the pretty form quotes the offending line, which may hold a token.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        message: 'YAML syntax error',
        ...lineCounter.linePos(e.pos[0]),
        detail: e.message,
      })),
      cause: doc.errors[0],
    };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (err) {
    // yaml throws a ReferenceError for an alias bomb (and for an alias without its anchor),
    // other errors for merges of non-maps.
    const bomb = err instanceof ReferenceError && err.message.startsWith('Excessive alias count');
    const message = bomb
      ? `too many alias expansions: the YAML aliases (*name) expand to more than ${MAX_ALIAS_COUNT} copies ` +
        'of their anchors; is it an alias bomb?'
      : `cannot read the YAML: ${err instanceof Error ? err.message : String(err)}`;
    return { ok: false, problems: [{ message }], cause: err };
  }
}

interface Override {
  /** The variable that set this key. */
  readonly name: string;
  /** Its text, and that text read as YAML. */
  readonly text: string;
  readonly value: unknown;
}

/**
 * Applies env overrides to a copy of `base`. `LONGSHORE__a__b__c=v` sets a.b.c (segments
 * kept as written; a numeric segment indexes an existing list). Values are YAML: `5` is a
 * number, `true` a boolean, `{}` a mapping, an empty value the empty string.
 */
function applyEnv(
  base: Record<string, unknown>,
  env: Env,
  prefix: string,
  aliases: Readonly<Record<string, string>>,
  source: string,
): { data: Record<string, unknown>; overrides: Map<string, Override> } {
  const data = structuredClone(base);
  const overrides = new Map<string, Override>();
  // An alias variable (NATS_URL) sets a URL and is taken as written, but trimmed: one read
  // from a Secret made from a file often ends in a newline. LONGSHORE__ ones are YAML.
  const sets: { name: string; path: string[]; text: string; literal?: boolean }[] = [];
  for (const [name, dotted] of Object.entries(aliases)) {
    const text = env[name]?.trim();
    if (text !== undefined && text !== '') sets.push({ name, path: dotted.split('.'), text, literal: true });
  }
  // Sorted, so a variable setting a mapping applies before ones setting keys inside it.
  const prefixed = Object.keys(env)
    .filter((n) => n.startsWith(prefix))
    .sort();
  for (const name of prefixed) {
    const path = name.slice(prefix.length).split('__');
    if (path.some((seg) => seg === '')) {
      throw new ConfigError(source, [
        { path: '', message: `environment variable ${name}: empty key segment` },
      ]);
    }
    sets.push({ name, path, text: env[name] ?? '' });
  }
  for (const { name, path, text, literal } of sets) {
    const value = text === '' || literal ? text : readEnvValue(name, text, path, source);
    const problem = setAt(data, path, value);
    if (problem)
      throw new ConfigError(source, [{ path: '', message: `environment variable ${name}: ${problem}` }]);
    overrides.set(pathKey(path), { name, text, value });
  }
  return { data, overrides };
}

/** An override's value read as YAML. Throws ConfigError naming the variable, never quoting a secret. */
function readEnvValue(name: string, text: string, path: readonly string[], source: string): unknown {
  const read = readYaml(text);
  if (read.ok) return read.value;
  const hint = '(the value is read as YAML: quote a string that is not valid YAML on its own)';
  // yaml's reasons may quote a few characters of the value (an escape sequence, an alias).
  if (SECRET_KEYS.has(path.at(-1) ?? '')) {
    throw new ConfigError(source, [
      { path: '', message: `environment variable ${name}: the value is not valid YAML ${hint}` },
    ]);
  }
  const issues = read.problems.map((p) => ({
    path: '',
    message:
      p.col === undefined
        ? `environment variable ${name}: ${p.message}`
        : `environment variable ${name}: ${p.message} at column ${p.col}: ${p.detail} ${hint}`,
  }));
  throw new ConfigError(source, issues, { cause: read.cause });
}

/** Sets a nested value, creating mappings on the way. Returns a problem, or undefined. */
function setAt(
  root: Record<string, unknown>,
  path: readonly PropertyKey[],
  value: unknown,
): string | undefined {
  let node: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as PropertyKey;
    const last = i === path.length - 1;
    if (Array.isArray(node) && /^\d+$/.test(String(seg))) {
      const idx = Number(seg);
      if (idx > node.length)
        return `${formatPath(path.slice(0, i))} has ${node.length} entries; cannot set [${idx}]`;
      if (last) node[idx] = value;
      else node = node[idx] ??= {};
    } else if (isRecord(node)) {
      const key = String(seg);
      if (last) node[key] = value;
      else node = node[key] ??= {};
    } else {
      return `${formatPath(path.slice(0, i))} is ${kindOf(node)}, not a mapping`;
    }
  }
  return undefined;
}

function getAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const seg of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map(String));
}

function toConfigIssue(
  issue: z.core.$ZodIssue,
  data: unknown,
  overrides: Map<string, Override>,
): ConfigIssue {
  let message = issue.message;
  if (issue.code === 'invalid_key') {
    message = `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`;
  }
  const last = issue.path.at(-1);
  if (typeof last === 'string' && SECRET_KEYS.has(last)) {
    // Defence in depth: our schemas never put a value in a message, but a secret's must
    // not appear even if one did. Numbers are a common accident: YAML reads an unquoted
    // all-digit token as a number.
    const raw = getAt(data, issue.path);
    if ((typeof raw === 'string' || typeof raw === 'number') && String(raw) !== '') {
      message = message.replaceAll(String(raw), '[redacted]');
    }
    if (typeof raw === 'number') message += ' (quote the value so YAML reads it as a string)';
  }
  const o = findOverride(issue.path, overrides);
  if (o) message += ` (set by environment variable ${o.name})`;
  return { path: formatPath(issue.path), message };
}

/** The override that set this path or a mapping above it, if any. */
function findOverride(path: readonly PropertyKey[], overrides: Map<string, Override>): Override | undefined {
  for (let n = path.length; n > 0; n--) {
    const o = overrides.get(pathKey(path.slice(0, n)));
    if (o) return o;
  }
  return undefined;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}
