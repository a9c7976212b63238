// The layering is checked, not just kept (docs/architecture.md, "Layout"): libs under
// services under tools, and no service reaching into another. Read from what decides it:
// each workspace's package.json dependencies and every import in its TypeScript, whether
// by package name (@longshore/claimer) or by a relative path into another workspace
// (../../claimer/src/x.ts).
//
// The rules, by what a workspace is:
// - a lib uses libs only: never a service, a tool, the test bed or the bench. Its tests may
//   also use the test support (testbed) and the Runner API simulator (a fake server for the
//   API the lib is a client of), which are devDependencies.
// - a service uses libs, never another service. Its tests may also use the test bed, the
//   simulator and the CLI as a process (devDependencies).
// - tools, the test bed and the bench are the outer ring: they may use services. The CLI's
//   `config check --cluster` runs the scheduler's own task-pod check rather than a copy of it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

type Kind = 'lib' | 'service' | 'tool' | 'testbed' | 'bench';

interface Workspace {
  readonly name: string;
  readonly dir: string;
  readonly kind: Kind;
  readonly dependencies: readonly string[];
  readonly devDependencies: readonly string[];
}

/** One use of another workspace, and where it was found. */
interface Use {
  readonly from: Workspace;
  readonly to: Workspace;
  /** A source file (relative to the root), or package.json and the dependency field. */
  readonly where: string;
  /** Test code: a test/ folder or a *.test.ts file, or a devDependency. */
  readonly inTests: boolean;
}

function kindOf(dir: string): Kind {
  if (dir.startsWith(`libs${sep}`)) return 'lib';
  if (dir.startsWith(`services${sep}`)) return 'service';
  if (dir.startsWith(`tools${sep}`)) return 'tool';
  if (dir === 'testbed') return 'testbed';
  if (dir === 'bench') return 'bench';
  throw new Error(`workspace ${dir} is of no known kind: add it to the boundaries rules`);
}

export function readWorkspaces(root: string): Workspace[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  const dirs = pkg.workspaces.flatMap((w) =>
    w.endsWith('/*')
      ? readdirSync(join(root, w.slice(0, -2)))
          .map((d) => join(w.slice(0, -2), d))
          .filter((d) => exists(join(root, d, 'package.json')))
      : [w],
  );
  return dirs.map((dir) => {
    const p = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as {
      name: string;
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    return {
      name: p.name,
      dir,
      kind: kindOf(dir),
      dependencies: Object.keys(p.dependencies ?? {}),
      devDependencies: Object.keys(p.devDependencies ?? {}),
    };
  });
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Module specifiers of static imports, re-exports and dynamic imports. */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  return [...code.matchAll(re)].map((m) => m[1] as string);
}

/** Every use of one workspace by another, from package.json files and source imports. */
export function findUses(root: string, workspaces: readonly Workspace[]): Use[] {
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const byDir = (file: string) =>
    workspaces.find((w) => file === join(root, w.dir) || file.startsWith(join(root, w.dir) + sep));
  const uses: Use[] = [];
  for (const from of workspaces) {
    for (const [field, deps] of [
      ['dependencies', from.dependencies],
      ['devDependencies', from.devDependencies],
    ] as const) {
      for (const dep of deps) {
        const to = byName.get(dep);
        if (to && to !== from) {
          uses.push({
            from,
            to,
            where: `${from.dir}/package.json ${field}`,
            inTests: field === 'devDependencies',
          });
        }
      }
    }
    for (const file of sourceFiles(join(root, from.dir))) {
      const rel = relative(root, file);
      const inTests = rel.split(sep).includes('test') || rel.endsWith('.test.ts');
      for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
        let to: Workspace | undefined;
        if (spec.startsWith('.')) to = byDir(resolve(dirname(file), spec));
        else to = byName.get(spec.split('/').slice(0, 2).join('/'));
        if (to && to !== from) uses.push({ from, to, where: `${rel} imports ${spec}`, inTests });
      }
    }
  }
  return uses;
}

/** Test support a lib's or service's tests may use besides libs. */
const TEST_SUPPORT = new Set(['@longshore/testbed', '@longshore/runner-api-sim', '@longshore/cli']);
const LIB_TEST_SUPPORT = new Set(['@longshore/testbed', '@longshore/runner-api-sim']);

/** Why a use breaks the layering, or undefined when it keeps it. */
export function violation(use: Use): string | undefined {
  const { from, to } = use;
  if (from.kind === 'lib' && to.kind !== 'lib') {
    if (use.inTests && to.kind !== 'service' && LIB_TEST_SUPPORT.has(to.name)) return undefined;
    return `a lib (${from.name}) uses ${to.kind === 'service' ? 'a service' : `the ${to.kind}`} ${to.name}`;
  }
  if (from.kind === 'service' && to.kind === 'service') {
    return `a service (${from.name}) uses another service, ${to.name}`;
  }
  if (from.kind === 'service' && to.kind !== 'lib') {
    if (use.inTests && TEST_SUPPORT.has(to.name)) return undefined;
    return `a service (${from.name}) uses ${to.name} outside its tests`;
  }
  return undefined;
}

function problems(root: string): string[] {
  return findUses(root, readWorkspaces(root)).flatMap((u) => {
    const why = violation(u);
    return why === undefined ? [] : [`${u.where}: ${why}`];
  });
}

describe('workspace boundaries', () => {
  it('no service uses another service, and no lib a service, a tool or the bench', () => {
    expect(problems(ROOT)).toEqual([]);
  });

  it('reads every workspace, imports by name and by relative path', () => {
    const ws = readWorkspaces(ROOT);
    expect(ws.map((w) => w.kind)).toEqual(
      expect.arrayContaining(['lib', 'service', 'tool', 'testbed', 'bench']),
    );
    expect(
      importSpecifiers(
        "import { a } from '@longshore/x';\nexport * from './y.ts';\nconst m = await import('../../z/src/m.ts');\nimport 'side';\n// import { no } from 'comment';",
      ),
    ).toEqual(['@longshore/x', './y.ts', '../../z/src/m.ts', 'side']);
  });

  it('names each kind of break', () => {
    const lib = {
      name: '@longshore/l',
      dir: 'libs/l',
      kind: 'lib',
      dependencies: [],
      devDependencies: [],
    } as const;
    const svc = { ...lib, name: '@longshore/s', dir: 'services/s', kind: 'service' } as const;
    const other = { ...svc, name: '@longshore/o', dir: 'services/o' } as const;
    const sim = { ...lib, name: '@longshore/runner-api-sim', dir: 'tools/sim', kind: 'tool' } as const;
    const cli = { ...lib, name: '@longshore/cli', dir: 'tools/cli', kind: 'tool' } as const;
    const use = (from: Workspace, to: Workspace, inTests = false): Use => ({ from, to, where: 'x', inTests });
    expect(violation(use(svc, other))).toBe('a service (@longshore/s) uses another service, @longshore/o');
    expect(violation(use(svc, other, true))).toBeDefined();
    expect(violation(use(lib, svc, true))).toBe('a lib (@longshore/l) uses a service @longshore/s');
    expect(violation(use(lib, sim))).toBe('a lib (@longshore/l) uses the tool @longshore/runner-api-sim');
    expect(violation(use(lib, sim, true))).toBeUndefined();
    expect(violation(use(svc, cli))).toBe('a service (@longshore/s) uses @longshore/cli outside its tests');
    expect(violation(use(svc, lib))).toBeUndefined();
    expect(violation(use(cli, svc))).toBeUndefined();
  });
});
