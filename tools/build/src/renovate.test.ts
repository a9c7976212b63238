// The update bot's config names real dependencies: a group that names a package no workspace
// uses any more (renamed, dropped) would silently stop grouping anything.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './build.ts';

interface Rule {
  matchPackageNames?: string[];
  matchDatasources?: string[];
}

const renovate = JSON.parse(readFileSync(join(REPO_ROOT, 'renovate.json'), 'utf8')) as {
  packageRules: Rule[];
};
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<
    string,
    { dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
  >;
};

describe('renovate.json', () => {
  it('groups only npm packages that a workspace depends on, each pinned to an exact version', () => {
    const declared = new Map<string, string>();
    for (const [path, p] of Object.entries(lock.packages)) {
      if (path.includes('node_modules')) continue;
      for (const [name, v] of Object.entries({ ...p.dependencies, ...p.devDependencies }))
        declared.set(name, v);
    }
    const named = renovate.packageRules
      .filter((r) => r.matchDatasources === undefined)
      .flatMap((r) => r.matchPackageNames ?? []);
    expect(named.length).toBeGreaterThan(10);
    for (const name of named) {
      expect(declared.has(name), `${name} is not a dependency of any workspace`).toBe(true);
      expect(declared.get(name), `${name} is not pinned`).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  it('names the image tags its custom managers read', () => {
    const chartNats = readFileSync(join(REPO_ROOT, 'deploy/helm/longshore/charts/nats/values.yaml'), 'utf8');
    expect(chartNats).toMatch(/repository: nats\n\s+tag: \S+/);
    expect(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).toMatch(/^ARG NODE_IMAGE=node:\S+$/m);
  });
});
