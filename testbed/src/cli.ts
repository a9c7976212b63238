// `npm run testbed:up | testbed:down`, and `status`: the test bed's command line.
import { readTestbedEnv } from './env.ts';
import { down, status, up } from './up.ts';

const cmd = process.argv[2];
try {
  if (cmd === 'up') {
    const r = await up({ log: (l) => console.error(l) });
    if (r.reused) console.error(`testbed: already up (checked in ${r.elapsedMs} ms)`);
    for (const [k, v] of Object.entries(r.env)) console.log(`${k}=${v}`);
  } else if (cmd === 'down') {
    await down();
    console.error('testbed: down');
  } else if (cmd === 'status') {
    const s = await status();
    console.log(JSON.stringify({ ...s, env: s.up ? readTestbedEnv() : undefined }, null, 2));
    process.exitCode = s.up ? 0 : 1;
  } else {
    console.error('usage: testbed/src/cli.ts up|down|status');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`testbed ${cmd}: ${err instanceof Error ? err.message : String(err)}`);
  if (err instanceof Error && err.cause) console.error(`  cause: ${String(err.cause)}`);
  process.exitCode = 1;
}
