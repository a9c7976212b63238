// A lease holder as a process of its own, for the kill -9 test (lease.test.ts): it opens
// the lease named on its command line and prints a JSON line whenever holding changes.
import { openLease } from '../src/index.ts';

const [servers = '', prefix = '', name = '', ttl = ''] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const lease = await openLease({
  servers,
  prefix,
  name,
  holder: `child-${process.pid}`,
  ttlMs: Number(ttl),
  logger: quiet,
});
lease.onChange((held) => process.stdout.write(`${JSON.stringify({ held })}\n`));
