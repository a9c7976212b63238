/**
 * The logging this kit needs; a @longshore/logging Logger (pino) fits. Declared here so the
 * kit does not depend on a logging library, and tests can pass a few-line fake.
 */
export interface KitLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
