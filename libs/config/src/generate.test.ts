// The generated files are committed as the generator makes them, and the chart's list of
// its own keys under `agent` (its config template drops them) is the config's.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENERATE_COMMAND, generatedFiles, REPO_ROOT } from './generate.ts';
import { AGENT_CHART_KEYS } from './schema.ts';

const files = await generatedFiles();

describe('generated files', () => {
  it.each(files)('$path is what the config schema says', async ({ path, content }) => {
    const committed = await readFile(join(REPO_ROOT, path), 'utf8');
    expect(committed, `${path} is out of date: run \`${GENERATE_COMMAND}\``).toBe(content);
  });

  it("the chart's config template drops exactly AGENT_CHART_KEYS from agent", async () => {
    const tpl = await readFile(
      join(REPO_ROOT, 'deploy/helm/longshore/charts/longshore-lib/templates/_config.tpl'),
      'utf8',
    );
    const list = /define "longshore\.agentChartKeys"[\s\S]*?\(list ([^)]*)\)/.exec(tpl)?.[1] ?? '';
    expect([...list.matchAll(/"([^"]+)"/g)].map((m) => m[1])).toEqual([...AGENT_CHART_KEYS]);
  });
});
