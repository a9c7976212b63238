// The files made from the config schema: the chart's values.schema.json and the key tables
// of docs/config.md. `npm run generate` writes them (generate-main.ts); generate.test.ts
// fails when the committed ones differ.
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chartValuesSchema } from './chart-schema.ts';
import { spliceConfigTables } from './config-tables.ts';

export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
export const CHART_SCHEMA_PATH = 'deploy/helm/longshore/values.schema.json';
export const CONFIG_DOC_PATH = 'docs/config.md';
export const GENERATE_COMMAND = 'npm run generate';

/** The biome formatter could not format the generated JSON. */
export class GenerateError extends Error {
  override readonly name = 'GenerateError';
}

export interface GeneratedFile {
  /** Relative to the repository root. */
  readonly path: string;
  readonly content: string;
}

/** Every generated file, as it should be committed. */
export async function generatedFiles(root = REPO_ROOT): Promise<GeneratedFile[]> {
  const doc = await readFile(join(root, CONFIG_DOC_PATH), 'utf8');
  return [
    { path: CHART_SCHEMA_PATH, content: formatJson(root, JSON.stringify(chartValuesSchema())) },
    { path: CONFIG_DOC_PATH, content: spliceConfigTables(doc) },
  ];
}

/** JSON laid out as `biome format` lays it out, so `npm run lint` agrees with the generator. */
function formatJson(root: string, json: string): string {
  const biome = join(root, 'node_modules', '.bin', 'biome');
  const r = spawnSync(biome, ['format', `--stdin-file-path=${CHART_SCHEMA_PATH}`], {
    cwd: root,
    input: json,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new GenerateError(`biome format failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}
