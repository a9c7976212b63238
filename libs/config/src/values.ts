// Checks of single values that zod's own types cannot express: server URLs and tokens.
// Each returns what is wrong, or undefined, and never quotes the value: URLs may carry
// passwords and tokens are secrets. The schema turns a problem into an issue at its key.

/**
 * Why `token` cannot be a bearer token, if it cannot. Tokens go out as
 * `Authorization: Bearer <token>`, where only visible ASCII is safe: a newline (a token
 * pasted from a file or `echo`) would split the header, and a space ends the token.
 */
export function tokenProblem(token: string): string | undefined {
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    if (code >= 0x21 && code <= 0x7e) continue;
    return (
      `must be visible ASCII characters only, as it is sent as "Authorization: Bearer <token>"; ` +
      `it has ${describeChar(code)} at character ${i + 1} of ${token.length}`
    );
  }
  return undefined;
}

function describeChar(code: number): string {
  if (code === 0x0a) return 'a line break';
  if (code === 0x0d) return 'a carriage return';
  if (code === 0x09) return 'a tab';
  if (code === 0x20) return 'a space';
  if (code < 0x20 || code === 0x7f) return 'a control character';
  return 'a non-ASCII character';
}

/** Whitespace or control characters: never part of a URL we can use as written. */
function hasBlankOrControl(value: string): boolean {
  if (/\s/.test(value)) return true;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Why `value` is not an http(s) base URL that request paths can be appended to. Tokens go
 * in their own keys (named by `tokenKeys`), never in the URL, where they would be logged
 * with it.
 */
export function httpBaseUrlProblem(value: string, tokenKeys: string): string | undefined {
  if (hasBlankOrControl(value)) return 'must be a URL without spaces, line breaks or control characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username !== '' || url.password !== '')
    return `must not contain credentials (user:password@): put tokens in ${tokenKeys}`;
  if (url.search !== '' || url.hash !== '')
    return 'must not have a query (?...) or fragment (#...): it is a base URL that request paths are appended to';
  return undefined;
}

/** The servers of a NATS URL setting: a comma-separated list, as NATS_URL is written. */
export function natsServers(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Why `value` is not a list of NATS servers the Node client can connect to:
 * `nats://` or `tls://` URLs, or `host[:port]` (nats:// implied), comma-separated. The
 * client refuses websocket URLs (they need another transport).
 */
export function natsUrlProblem(value: string): string | undefined {
  const servers = value.split(',').map((s) => s.trim());
  if (servers.every((s) => s === '')) return 'must name at least one NATS server';
  for (const [i, server] of servers.entries()) {
    const which = servers.length > 1 ? `server ${i + 1} of ${servers.length}: ` : '';
    const problem = natsServerProblem(server);
    if (problem) return `${which}${problem}`;
  }
  return undefined;
}

function natsServerProblem(server: string): string | undefined {
  const expected = 'must be a nats:// or tls:// URL (or host:port), or a comma-separated list of them';
  if (server === '') return 'is empty (a stray comma?)';
  if (hasBlankOrControl(server)) return `${expected}, without spaces or control characters`;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(server)?.[1]?.toLowerCase();
  if (scheme === 'ws' || scheme === 'wss')
    return `${expected}: websocket URLs are not supported (Longshore's services connect over TCP)`;
  if (scheme !== undefined && scheme !== 'nats' && scheme !== 'tls') return expected;
  try {
    const url = new URL(scheme === undefined ? `nats://${server}` : server);
    if (url.hostname === '') return `${expected}: the host is missing`;
  } catch {
    return expected;
  }
  return undefined;
}

/** Why `value` is not a Redis URL ioredis can use: redis:// or rediss://, a host, a database number. */
export function redisUrlProblem(value: string): string | undefined {
  const expected = 'must be a redis:// or rediss:// URL';
  if (hasBlankOrControl(value)) return `${expected}, without spaces or control characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return expected;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return expected;
  if (url.hostname === '') return `${expected}: the host is missing`;
  if (!/^\/?\d*$/.test(url.pathname))
    return `${expected}: its path, if any, must be a database number, as in redis://host:6379/0`;
  return undefined;
}
