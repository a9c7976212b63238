// The design's "no secret ever crosses the bus", enforced cheaply: before a payload is
// validated (which would silently strip unknown keys) its keys are scanned at every depth,
// and a key that names a credential makes the publish fail loudly. It checks names, not
// values: a bug that puts a token into a field called `token` is caught; one that pastes
// it into `error` is not.

// Compared after lower-casing and dropping '_' and '-', so `task_token`, `taskToken`,
// `Circle-Token` and `resource_class_token` all end in "token".
const SECRET_SUFFIXES = ['token', 'tokens', 'password', 'passwd', 'authorization', 'apikey', 'privatekey'];

// Payloads are small JSON documents; anything deeper than this is not one of ours.
const MAX_DEPTH = 32;

/** Whether a key name looks like it holds a credential. */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replaceAll('_', '').replaceAll('-', '');
  return SECRET_SUFFIXES.some((s) => k.endsWith(s));
}

/** Paths (like `a.b[2].task_token`) of every secret-like key in a value. */
export function findSecretKeys(value: unknown): string[] {
  const found: string[] = [];
  walk(value, '', 0, found);
  return found;
}

function walk(value: unknown, path: string, depth: number, found: string[]): void {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      walk(v, `${path}[${i}]`, depth + 1, found);
    });
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (isSecretKey(k)) found.push(p);
    walk(v, p, depth + 1, found);
  }
}
