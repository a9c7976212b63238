// `npm run build [-- OUT_DIR]`: bundles every program into dist/ (or OUT_DIR). The
// Dockerfile runs it from the image's build stage.
import { resolve } from 'node:path';
import { buildDist, PROGRAMS } from './build.ts';

const out = process.argv[2] ? resolve(process.argv[2]) : undefined;
const started = performance.now();
await buildDist(out);
console.log(
  `built ${Object.keys(PROGRAMS).length} programs into ${out ?? 'dist/'} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
