// The cloud-init user data of runner VMs: cloud-init/runner-init.sh with this pool's
// settings filled in. Rendering is pure (template and values in, script out); reading the
// template file is a separate step so callers and tests can see exactly what is rendered.
import { readFileSync } from 'node:fs';
import { formatDuration } from '@longshore/config';

export const RUNNER_INIT_TEMPLATE_PATH = new URL('./cloud-init/runner-init.sh', import.meta.url);

/** What a runner VM needs to know; everything else is fixed by the script. */
export interface RunnerInitSettings {
  /** The resource class token the runner authenticates with. */
  readonly token: string;
  /** Runner API base URL (provisioner.circleciAPIAddr). */
  readonly apiUrl: string;
  /** How long an idle runner waits for a job, in ms; undefined or 0 waits forever. */
  readonly idleTimeoutMs: number | undefined;
}

/** The template does not fit the renderer (a placeholder is missing or unknown). */
export class CloudInitTemplateError extends Error {
  override readonly name = 'CloudInitTemplateError';
}

let cachedTemplate: string | undefined;

/** The script template, read once. */
export function readRunnerInitTemplate(): string {
  cachedTemplate ??= readFileSync(RUNNER_INIT_TEMPLATE_PATH, 'utf8');
  return cachedTemplate;
}

/** Renders the user data script. Throws CloudInitTemplateError if template and values do not match. */
export function renderRunnerInit(settings: RunnerInitSettings, template = readRunnerInitTemplate()): string {
  if (settings.token === '') throw new RangeError('the runner token must not be empty');
  const values: Record<string, string> = {
    // JSON strings are YAML double-quoted scalars: any token or URL stays one value.
    RUNNER_AUTH_TOKEN_YAML: JSON.stringify(settings.token),
    RUNNER_API_URL_YAML: JSON.stringify(settings.apiUrl),
    RUNNER_IDLE_TIMEOUT_YAML: settings.idleTimeoutMs
      ? JSON.stringify(formatDuration(settings.idleTimeoutMs))
      : '',
  };
  const seen = new Set<string>();
  const out = template.replace(/@@([A-Z0-9_]+)@@/g, (_m, key: string) => {
    const value = values[key];
    if (value === undefined)
      throw new CloudInitTemplateError(`unknown placeholder @@${key}@@ in the template`);
    seen.add(key);
    return shellQuote(value);
  });
  const unused = Object.keys(values).filter((k) => !seen.has(k));
  if (unused.length > 0) {
    throw new CloudInitTemplateError(
      `the template lacks placeholders ${unused.map((k) => `@@${k}@@`).join(', ')}`,
    );
  }
  return out;
}

/** One shell word whose value is exactly `s`. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
