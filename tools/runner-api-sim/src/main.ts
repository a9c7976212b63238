// The standalone simulator (docker compose, local dev): config from env/argv -> HTTP server
// -> run until SIGTERM/SIGINT -> close. See README.md for the settings.
import { loadKubeConfig } from '@longshore/kube';
import { loadSimConfig, SimConfigError, startOptionsOf } from './config.ts';
import { type RunningSim, startSim } from './index.ts';

async function main(): Promise<void> {
  let sim: RunningSim;
  try {
    const config = loadSimConfig(process.env, process.argv.slice(2));
    if (config.apiToken === undefined) {
      console.warn('runner-api-sim: LONGSHORE_SIM_API_TOKEN is not set; the task count endpoints answer 403');
    }
    const agent = config.playAgent
      ? {
          kc: loadKubeConfig(),
          ...(config.agentNamespace === undefined ? {} : { namespace: config.agentNamespace }),
        }
      : undefined;
    sim = await startSim({ ...startOptionsOf(config), ...(agent ? { agent } : {}) });
  } catch (error) {
    console.error(error instanceof SimConfigError ? `runner-api-sim: ${error.message}` : error);
    process.exitCode = error instanceof SimConfigError ? 2 : 1;
    return;
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.warn(`runner-api-sim: ${signal}, closing`);
    try {
      await sim.close();
    } catch (error) {
      console.error('runner-api-sim: close failed', error);
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

await main();
