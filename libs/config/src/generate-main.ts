// `npm run generate`: writes the files made from the config schema (generate.ts).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generatedFiles, REPO_ROOT } from './generate.ts';

for (const file of await generatedFiles()) {
  const path = join(REPO_ROOT, file.path);
  const before = await readFile(path, 'utf8').catch(() => '');
  if (before === file.content) {
    console.log(`${file.path}: up to date`);
  } else {
    await writeFile(path, file.content);
    console.log(`${file.path}: written`);
  }
}
