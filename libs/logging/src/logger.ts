// JSON logs to stderr (seed 002: "Logs are written to stderr in JSON format"), with secrets
// removed twice: by key wherever a known secret-bearing key appears, and by value through
// the SecretScrubber on the finished line.
import { type DestinationStream, type Level, type Logger as PinoLogger, pino } from 'pino';
import { REDACTED, type SecretScrubber } from './scrubber.ts';

export type Logger = PinoLogger;
export type LogLevel = Level | 'silent';

/** Keys whose values are secrets wherever they appear in a log object. */
export const SECRET_KEYS: readonly string[] = [
  'token',
  'task_token',
  'taskToken',
  'circleToken',
  'circle_token',
  'circle-token',
  'Circle-Token',
  'authorization',
  'Authorization',
  'password',
  'cookie',
  'set-cookie',
];

/** How deep below the top level a secret key is still found by key (headers.authorization is 1). */
const REDACT_DEPTH = 4;

/**
 * pino redact paths for SECRET_KEYS at the top level and up to REDACT_DEPTH levels below
 * (`token`, `*.token`, `*.*.token`, ...): pino's paths have no "any depth" form.
 */
export function redactPaths(keys: readonly string[] = SECRET_KEYS, depth = REDACT_DEPTH): string[] {
  const paths: string[] = [];
  for (const key of keys) {
    const plain = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key);
    const leaf = plain ? key : `[${JSON.stringify(key)}]`;
    for (let d = 0; d <= depth; d++) {
      const stars = Array.from({ length: d }, () => '*').join('.');
      paths.push(stars === '' ? leaf : plain ? `${stars}.${leaf}` : `${stars}${leaf}`);
    }
  }
  return paths;
}

export interface LoggerOptions {
  /** Service name, the `name` field of every line. */
  readonly name: string;
  readonly level?: LogLevel;
  /** Where lines go; stderr (fd 2) by default. */
  readonly destination?: DestinationStream;
  /** Secret values to remove from every line, whatever key or message they are in. */
  readonly scrubber?: SecretScrubber;
}

export function createLogger(options: LoggerOptions): Logger {
  const { scrubber } = options;
  // Synchronous writes: a line logged just before a crash or process.exit is not lost.
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: redactPaths(), censor: REDACTED },
      ...(scrubber ? { hooks: { streamWrite: (line: string) => scrubber.scrub(line) } } : {}),
    },
    destination,
  );
}
