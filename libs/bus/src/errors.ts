// Failures of the bus, as named classes so callers can tell a bad payload (a bug in the
// caller) from an unreachable server (retry later). Each keeps the underlying error as
// `cause`. No message here ever includes a payload's values: they might hold secrets.

/** Base class of every error thrown by @longshore/bus. */
export class BusError extends Error {
  override name = 'BusError';
}

/** A payload does not match its subject's schema; nothing was sent. */
export class BusValidationError extends BusError {
  override name = 'BusValidationError';
  readonly subject: string;
  /** `path: message` of each schema issue. */
  readonly issues: readonly string[];
  constructor(subject: string, issues: readonly string[], options?: ErrorOptions) {
    super(`invalid payload for ${subject}: ${issues.join('; ')}`, options);
    this.subject = subject;
    this.issues = issues;
  }
}

/** A payload carries a key that looks like a credential; nothing was sent. */
export class BusSecretError extends BusError {
  override name = 'BusSecretError';
  readonly subject: string;
  /** Paths of the offending keys (never their values). */
  readonly paths: readonly string[];
  constructor(subject: string, paths: readonly string[]) {
    super(`refusing to publish ${subject}: secret-like keys at ${paths.join(', ')}`);
    this.subject = subject;
    this.paths = paths;
  }
}

/** The server did not accept a publish (no stream, timeout, wrong stream, closed connection). */
export class BusPublishError extends BusError {
  override name = 'BusPublishError';
}

/** Connecting, or creating a stream, consumer or bucket failed. */
export class BusSetupError extends BusError {
  override name = 'BusSetupError';
}

/** The bus was used after close(). */
export class BusClosedError extends BusError {
  override name = 'BusClosedError';
  constructor() {
    super('bus is closed');
  }
}
