// Vitest global setup for the integration project: reuses a running test bed, or starts
// one for the run and stops it afterwards. With NATS_URL, REDIS_URL and KUBECONFIG all set
// in the environment, it uses those servers instead and starts nothing.
import { down, up } from './up.ts';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.NATS_URL && process.env.REDIS_URL && process.env.KUBECONFIG) return undefined;
  const r = await up({ log: (l) => console.error(l) });
  Object.assign(process.env, r.env);
  if (r.reused) return undefined;
  return async () => {
    if (process.env.LONGSHORE_KEEP_TESTBED !== '1') await down();
  };
}
