// Public surface of @longshore/logging: JSON loggers that never write a secret.
export {
  createLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  redactPaths,
  SECRET_KEYS,
} from './logger.ts';
export { MIN_SECRET_LENGTH, REDACTED, SecretScrubber } from './scrubber.ts';
