// How failures appear in log lines. Expected failures (an unreachable Runner API, an
// apiserver refusal) carry a `kind`; for those the name, kind and message say it all, and
// the cause's stack and raw HTTP exchange (client-node puts headers and body in its
// messages) would only bury the line. Anything else is logged whole: it is probably a bug.

/**
 * Fields for a log call: `{ error: {type, kind, message, status?} }` for an expected
 * failure (not `err`, which pino would re-serialize as a plain Object), else `{ err }`.
 */
export function errFields(err: unknown): { error: Record<string, unknown> } | { err: unknown } {
  const { kind, status } = (err ?? {}) as { kind?: unknown; status?: unknown };
  if (err instanceof Error && typeof kind === 'string') {
    return {
      error: {
        type: err.name,
        kind,
        message: err.message,
        ...(typeof status === 'number' ? { status } : {}),
      },
    };
  }
  return { err };
}
