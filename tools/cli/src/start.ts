// `longshore start` (npm start): the main job against the local stack. Brings up the test
// bed (or reuses it), starts the Runner API simulator playing the task agent, and runs
// Longshore's services against them. With --once it exits when the job is done.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startSim } from '@longshore/runner-api-sim';
import { up } from '@longshore/testbed';
import type { Io } from './config-check.ts';

export interface StartOptions {
  once: boolean;
  /** Where task pods go. */
  namespace: string;
  simPort: number;
}

export async function start(opts: StartOptions, io: Io, signal: AbortSignal): Promise<number> {
  const bed = await up({ log: io.err });
  io.err(bed.reused ? 'start: reusing the running test bed' : 'start: test bed started');
  const kc = new KubeConfig();
  kc.loadFromFile(bed.env.KUBECONFIG);
  await ensureNamespace(kc.makeApiClient(CoreV1Api), opts.namespace);

  const sim = await startSim({ port: opts.simPort, agent: { kc, namespace: opts.namespace } });
  try {
    io.out(`Runner API simulator: ${sim.url} (admin API under ${sim.url}/sim)`);
    for (const [k, v] of Object.entries(bed.env)) io.out(`${k}=${v}`);
    io.out(`task pods go to namespace ${opts.namespace}`);
    if (opts.once) return 0;
    io.err('start: running; Ctrl-C stops (the test bed stays up: npm run testbed:down)');
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    return 0;
  } finally {
    await sim.close();
  }
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}
