// Configuration of the standalone simulator (main.ts) from env and argv. Tokens come from
// env only: argv is visible to every user of the machine in `ps`.
import { parseArgs } from 'node:util';
import { ResourceClassName } from '@longshore/contracts';
import type { StartSimOptions } from './index.ts';

export interface SimConfig {
  host: string;
  port: number;
  classes: Record<string, string[]>;
  apiToken: string | undefined;
  agentVersion: string | undefined;
  logLevel: string;
  /** Play the in-pod task agent against the cluster in KUBECONFIG (the test bed). */
  playAgent: boolean;
  /** With playAgent: watch only this namespace's task pods. */
  agentNamespace: string | undefined;
}

/** A bad setting; the message names the variable or flag and never contains a token. */
export class SimConfigError extends Error {
  override name = 'SimConfigError';
}

export const USAGE = `usage: runner-api-sim [--host 127.0.0.1] [--port 0]
env: LONGSHORE_SIM_HOST, LONGSHORE_SIM_PORT, LONGSHORE_SIM_CLASSES="ns/rc1=tok1,tok2;ns/rc2=tok3",
     LONGSHORE_SIM_API_TOKEN, LONGSHORE_SIM_AGENT_VERSION, LONGSHORE_SIM_LOG_LEVEL (default info),
     LONGSHORE_SIM_PLAY_AGENT=true (report task pods' results, cluster from KUBECONFIG),
     LONGSHORE_SIM_AGENT_NAMESPACE (only that namespace's task pods)`;

export function loadSimConfig(env: Record<string, string | undefined>, argv: readonly string[]): SimConfig {
  let args: { host?: string | undefined; port?: string | undefined };
  try {
    args = parseArgs({
      args: [...argv],
      options: { host: { type: 'string' }, port: { type: 'string' } },
      strict: true,
    }).values;
  } catch (cause) {
    throw new SimConfigError(`${(cause as Error).message}\n${USAGE}`, { cause });
  }
  return {
    host: args.host ?? nonEmpty(env.LONGSHORE_SIM_HOST) ?? '127.0.0.1',
    port: parsePort(
      args.port ?? nonEmpty(env.LONGSHORE_SIM_PORT) ?? '0',
      args.port ? '--port' : 'LONGSHORE_SIM_PORT',
    ),
    classes: parseClasses(env.LONGSHORE_SIM_CLASSES ?? ''),
    apiToken: nonEmpty(env.LONGSHORE_SIM_API_TOKEN),
    agentVersion: nonEmpty(env.LONGSHORE_SIM_AGENT_VERSION),
    logLevel: nonEmpty(env.LONGSHORE_SIM_LOG_LEVEL) ?? 'info',
    playAgent: parseBool(env.LONGSHORE_SIM_PLAY_AGENT, 'LONGSHORE_SIM_PLAY_AGENT'),
    agentNamespace: nonEmpty(env.LONGSHORE_SIM_AGENT_NAMESPACE),
  };
}

function parseBool(text: string | undefined, where: string): boolean {
  const v = nonEmpty(text)?.toLowerCase();
  if (v === undefined || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new SimConfigError(`${where}: expected true or false, got ${JSON.stringify(text)}`);
}

export function startOptionsOf(config: SimConfig): StartSimOptions {
  return {
    host: config.host,
    port: config.port,
    classes: config.classes,
    logLevel: config.logLevel,
    ...(config.apiToken === undefined ? {} : { apiToken: config.apiToken }),
    ...(config.agentVersion === undefined ? {} : { agentVersion: config.agentVersion }),
  };
}

/** `ns/rc1=tok1,tok2;ns/rc2=tok3` -> { 'ns/rc1': ['tok1', 'tok2'], 'ns/rc2': ['tok3'] } */
export function parseClasses(spec: string): Record<string, string[]> {
  const classes: Record<string, string[]> = {};
  for (const [index, entry] of spec.split(';').entries()) {
    if (entry.trim() === '') continue;
    const where = `LONGSHORE_SIM_CLASSES entry ${index + 1}`;
    const eq = entry.indexOf('=');
    if (eq < 0) throw new SimConfigError(`${where}: expected <namespace>/<name>=<token>[,<token>...]`);
    const name = entry.slice(0, eq).trim();
    if (!ResourceClassName.safeParse(name).success) {
      throw new SimConfigError(`${where}: resource class must look like <namespace>/<name>`);
    }
    const tokens = entry
      .slice(eq + 1)
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    if (tokens.length === 0) throw new SimConfigError(`${where}: ${name} has no token`);
    classes[name] = [...(classes[name] ?? []), ...tokens];
  }
  return classes;
}

function parsePort(text: string, where: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SimConfigError(`${where}: not a port number: ${JSON.stringify(text)}`);
  }
  return port;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
