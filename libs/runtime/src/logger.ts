/**
 * The logging the shutdown routine and the health server need; a @longshore/logging Logger
 * (pino) fits, and tests (and the process fixture) pass a few-line fake.
 */
export interface KitLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
