// What the bundles must be for the memory figures in bench/README.md to hold. Builds into a
// temporary directory (a couple of seconds) and reads the output.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from './build.ts';

let dir: string;
const chunks = () => readdirSync(dir).filter((f) => f.startsWith('chunk-') && f.endsWith('.mjs'));
const read = (f: string) => readFileSync(join(dir, f), 'utf8');

/** The files a bundle loads before it runs: itself and its static imports, transitively. */
function staticGraph(entry: string): string[] {
  const seen = new Set<string>();
  const walk = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const m of read(f).matchAll(/(?:from|import)\s*"\.\/([^"]+)"/g)) walk(m[1]!);
  };
  walk(entry);
  return [...seen];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'longshore-dist-'));
  await buildDist(dir);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('buildDist', () => {
  it('writes ASCII only, so Node keeps no module source as UTF-16', () => {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.mjs'))) {
      expect(/[\u0080-\uffff]/.test(read(f)), f).toBe(false);
    }
  });

  it('imports node:http through require(), and loading every chunk loads no Node-internal undici', () => {
    for (const f of chunks()) expect(read(f), f).not.toMatch(/(?:from|import)\s*"(?:node:)?http"/);
    const loaded = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `for (const f of ${JSON.stringify(chunks().map((f) => join(dir, f)))}) await import(f);
         console.log(process.moduleLoadList.filter((m) => m.includes('deps/undici')).join(','));`,
      ],
      { encoding: 'utf8' },
    );
    expect(loaded.trim()).toBe('');
  });

  it('keeps the Kubernetes client out of what the claimer loads at start', () => {
    const withClientNode = chunks().filter((f) => read(f).includes('attributeTypeMap'));
    expect(withClientNode).not.toEqual([]);
    expect(staticGraph('claimer.mjs').filter((f) => withClientNode.includes(f))).toEqual([]);
    expect(staticGraph('scheduler.mjs').some((f) => withClientNode.includes(f))).toBe(true);
  });
});
