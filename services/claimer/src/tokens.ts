// Resource class tokens: from each class's `token`, or from agent.customSecret, a Secret
// whose keys are the class names with '/' replaced by '.' (the seeds' "Custom token secret").
// A token from the Secret is hostile input like any other: trimmed (a Secret made from a
// file ends in a newline), then checked as the config's tokens are.
import { tokenProblem } from '@longshore/config';

/** A class has no token anywhere: a configuration error, reported at start. */
export class TokenConfigError extends Error {
  override name = 'TokenConfigError';
}

export function secretKeyOf(resourceClass: string): string {
  return resourceClass.replaceAll('/', '.');
}

export async function resolveTokens(
  classes: Record<string, { token?: string | undefined }>,
  customSecret: string | undefined,
  readSecret: (name: string) => Promise<Record<string, string> | undefined>,
): Promise<Record<string, string>> {
  const fromSecret = customSecret ? await readSecret(customSecret) : undefined;
  if (customSecret && fromSecret === undefined) {
    throw new TokenConfigError(`agent.customSecret: Secret "${customSecret}" not found`);
  }
  const out: Record<string, string> = {};
  const missing: string[] = [];
  const bad: string[] = [];
  for (const [rc, cfg] of Object.entries(classes)) {
    const token = cfg.token ?? fromSecret?.[secretKeyOf(rc)]?.trim();
    const problem = token ? tokenProblem(token) : undefined;
    if (problem) bad.push(`Secret "${customSecret}" key ${secretKeyOf(rc)}: the token ${problem}`);
    else if (token) out[rc] = token;
    else missing.push(rc);
  }
  if (bad.length > 0) throw new TokenConfigError(`agent.customSecret: ${bad.join('\n')}`);
  if (missing.length > 0) {
    const where = customSecret
      ? `neither in agent.resourceClasses nor in Secret "${customSecret}"`
      : 'in agent.resourceClasses';
    throw new TokenConfigError(
      missing
        .map((rc) => `agent.resourceClasses["${rc}"]: no token ${where} (key ${secretKeyOf(rc)})`)
        .join('\n'),
    );
  }
  return out;
}
