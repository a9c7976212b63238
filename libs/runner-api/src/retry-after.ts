// Retry-After (RFC 9110 §10.2.3): either delay-seconds or an HTTP date. CircleCI sends it
// with 429; proxies in front of it send it with 503.

/** The wait the header asks for, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  // The RFC says whole seconds; a fractional value is still clear about what it means.
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  // Only the date form has letters; Date.parse would otherwise accept "-1" or "12".
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  // A date in the past means "now".
  return Math.max(0, at - nowMs);
}
