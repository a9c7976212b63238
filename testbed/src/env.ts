// Connection settings of the running test bed. `testbed up` writes them to
// <repo>/.testbed/env as KEY=value lines; process.env wins where it sets the same key.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TestbedEnv {
  NATS_URL: string;
  REDIS_URL: string;
  KUBECONFIG: string;
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TESTBED_DIR = join(REPO_ROOT, '.testbed');
export const ENV_FILE = join(TESTBED_DIR, 'env');

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Reads the test bed's settings; throws naming what is missing when it is not up. */
export function readTestbedEnv(): TestbedEnv & Record<string, string> {
  const fromFile = existsSync(ENV_FILE) ? parseEnvFile(readFileSync(ENV_FILE, 'utf8')) : {};
  const merged: Record<string, string> = { ...fromFile };
  for (const k of ['NATS_URL', 'REDIS_URL', 'KUBECONFIG'] as const) {
    const v = process.env[k];
    if (v) merged[k] = v;
  }
  const missing = ['NATS_URL', 'REDIS_URL', 'KUBECONFIG'].filter((k) => !merged[k]);
  if (missing.length > 0) {
    throw new Error(
      `test bed settings missing (${missing.join(', ')}): run \`npm run testbed:up\` (reads ${ENV_FILE})`,
    );
  }
  return merged as TestbedEnv & Record<string, string>;
}
