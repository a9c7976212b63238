// The programs as they ship: each one bundled with everything it imports into dist/, plain
// JavaScript, minified. Node runs it with no TypeScript to strip and no node_modules to
// resolve. That is what the image holds, and what the benchmarks measure, because it is
// lighter: a service run from its sources keeps every module's source text in memory
// (client-node alone is 25 MB of it, mostly API groups and models we never call) and loads
// the type stripper; its bundle is 3.4 MB, and each service peaks 15 to 75 MB lower
// (bench/README.md).
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build, type Plugin } from 'rolldown';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** dist/<name>.mjs for each: the five services, the simulator, the CLI, and compose's kubeconfig helper. */
export const PROGRAMS = {
  claimer: 'services/claimer/src/main.ts',
  scheduler: 'services/scheduler/src/main.ts',
  gc: 'services/gc/src/main.ts',
  constraints: 'services/constraints/src/main.ts',
  'vm-scaler': 'services/vm-scaler/src/main.ts',
  'runner-api-sim': 'tools/runner-api-sim/src/main.ts',
  longshore: 'tools/cli/src/cli.ts',
  kubeconfig: 'deploy/docker/kubeconfig.ts',
} as const;
export type ProgramName = keyof typeof PROGRAMS;

/**
 * Files a program reads beside its own module (`new URL(..., import.meta.url)`), copied to
 * the same place relative to dist/. All chunks sit in dist/ itself, so such a URL resolves
 * there whichever chunk the reading module lands in.
 */
export const ASSETS = [
  ['services/vm-scaler/src/cloud-init/runner-init.sh', 'cloud-init/runner-init.sh'],
  ...(['index.html', 'app.js', 'app.css'] as const).map(
    (f) => [`tools/cli/src/ui/fleet-page/${f}`, `fleet-page/${f}`] as const,
  ),
] as const;

/** The path of a program's bundle, relative to the repository (and to the image's /app). */
export const programPath = (name: ProgramName): string => `dist/${name}.mjs`;

const HTTP_SHIM = '\0longshore:node-http';
const HTTP_LAZY_WEB_CLASSES = new Set(['WebSocket', 'CloseEvent', 'MessageEvent']);

/**
 * node:http through require() instead of an ESM import. Node builds the ESM face of a
 * built-in module by reading every property of it, and node:http has lazy getters
 * (WebSocket, CloseEvent, MessageEvent) that load Node's own copy of undici and the web
 * streams on first read: 13 MB of resident memory in every process that imports node:http,
 * for classes no service uses. The shim re-exports everything else (the default export is
 * the module itself); code importing one of those three would fail the build (a missing
 * export), not run without it.
 */
function nodeHttpViaRequire(): Plugin {
  return {
    name: 'longshore:node-http-via-require',
    resolveId(source) {
      return source === 'node:http' || source === 'http' ? HTTP_SHIM : undefined;
    },
    load(id) {
      if (id !== HTTP_SHIM) return undefined;
      const http = createRequire(import.meta.url)('node:http') as object;
      const plain = Object.keys(http).filter(
        (name) => !HTTP_LAZY_WEB_CLASSES.has(name) && /^[A-Za-z_$][\w$]*$/.test(name),
      );
      return [
        "import { createRequire } from 'node:module';",
        "const http = createRequire(import.meta.url)('node:http');",
        'export default http;',
        `export const { ${plain.join(', ')} } = http;`,
      ].join('\n');
    },
  };
}

/**
 * Keeps the bundles ASCII where `charset: 'ascii'` does not reach: the legal comments
 * (`/*! ... *\/`) it copies as they are. One non-ASCII byte in a file makes Node decode the
 * whole module source to a two-byte string, 4 MB instead of 2 for the chunk holding
 * client-node. Characters are written as \uXXXX inside those comments only; the notices
 * stay in the bundles.
 */
function asciiLegalComments(): Plugin {
  return {
    name: 'longshore:ascii-legal-comments',
    renderChunk(code) {
      if (!/[\u0080-\uffff]/.test(code)) return null;
      return code.replace(/\/\*![\s\S]*?\*\//g, (comment) =>
        comment.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
      );
    },
  };
}

/** Bundles every program into `outDir` (emptied first). `root` is where the sources are. */
export async function buildDist(outDir = join(REPO_ROOT, 'dist'), root = REPO_ROOT): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  await build({
    cwd: root,
    input: Object.fromEntries(Object.entries(PROGRAMS).map(([name, src]) => [name, join(root, src)])),
    platform: 'node',
    logLevel: 'warn',
    plugins: [nodeHttpViaRequire(), asciiLegalComments()],
    output: {
      dir: outDir,
      format: 'esm',
      entryFileNames: '[name].mjs',
      chunkFileNames: 'chunk-[hash].mjs',
      minify: true,
      // Stack traces and logs keep the functions' and classes' own names.
      keepNames: true,
      // Non-ASCII characters escaped: Node decodes a module's source to a two-byte string
      // if a single byte of it is not ASCII, which doubles the memory the source takes
      // (4 MB rather than 2 for the chunk holding client-node). Comments: see above.
      charset: 'ascii',
    },
  });
  for (const [src, dest] of ASSETS) {
    mkdirSync(join(outDir, dest, '..'), { recursive: true });
    copyFileSync(join(root, src), join(outDir, dest));
  }
}

/**
 * The NODE_OPTIONS the image's runtime stage sets (`ENV NODE_OPTIONS=...` after its last
 * FROM), so that what runs the bundles here runs them as the image does.
 */
export function imageNodeOptions(dockerfile = join(REPO_ROOT, 'Dockerfile')): string {
  const text = readFileSync(dockerfile, 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const m = /^ENV NODE_OPTIONS=(\S.*)$/m.exec(runtime);
  if (!m) throw new Error(`${dockerfile}: the runtime stage sets no NODE_OPTIONS`);
  return m[1]!.replace(/^"(.*)"$/, '$1');
}
