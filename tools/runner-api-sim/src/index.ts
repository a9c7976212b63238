// Public surface of @longshore/runner-api-sim: start a simulator in-process (tests, the
// main job, benchmarks) and drive it through its admin API.
import type { KubeConfig } from '@kubernetes/client-node';
import type { FastifyBaseLogger } from 'fastify';
import { RegisterClassRequest } from './admin-schemas.ts';
import { FaultBook } from './faults.ts';
import { buildSimApp } from './http.ts';
import { PodReporter } from './pod-reporter.ts';
import { SimState } from './sim-state.ts';
import { RequestStats } from './stats.ts';

export type { EnqueueTask, SimStats } from './admin-client.ts';
export { SimAdminClient, SimAdminError } from './admin-client.ts';
export type { EnqueueInput, TaskListQuery, TaskSpec, TaskState } from './admin-schemas.ts';
export type { ActiveFaultRule, FaultEndpoint, FaultRule, FaultRuleInput } from './faults.ts';
export { FAULT_ENDPOINTS, MAX_GENERATED_BODY_BYTES } from './faults.ts';
export { fateOf, type InPodEnding, inPodEnding, PodReporter } from './pod-reporter.ts';
export type { Outcome, Refusal, RefusalReason, TaskCounts } from './sim-state.ts';
export { MAX_UNCLAIMS, SimState, SimStateError } from './sim-state.ts';
export type { RequestStatsSnapshot } from './stats.ts';
export type { ServedTaskConfig, TaskDetail, TaskEvent, TaskEventType, TaskSummary } from './task.ts';

export interface StartSimOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port (read it from the result). */
  port?: number;
  /** Resource class name (`<namespace>/<name>`) -> its tokens. */
  classes?: Record<string, readonly string[]>;
  /** The `Circle-Token` the count endpoints accept; without one they answer 403. */
  apiToken?: string;
  /** `agent_version` in claim responses. */
  agentVersion?: string;
  /** A pino-compatible logger; by default the simulator does not log. */
  logger?: FastifyBaseLogger;
  /** Log with fastify's own pino at this level (when no `logger` is given). */
  logLevel?: string;
  /**
   * Play the in-pod task agent: watch task pods in this cluster and report each task's
   * result when its container 0 exits on its own (see pod-reporter.ts).
   */
  agent?: { kc: KubeConfig; namespace?: string };
  /**
   * A claim not confirmed by a task config fetch within this long goes back to the queue
   * (its answer was lost). Default 60 s; tests that kill runners use a few seconds.
   */
  claimLeaseMs?: number;
}

export interface RunningSim {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  port: number;
  /** The live state, for in-process callers (e.g. `state.report(...)` as the task agent). */
  state: SimState;
  /** Stops listening; idempotent. */
  close(): Promise<void>;
}

/** The options given to startSim are unusable (e.g. a malformed resource class name). */
export class SimOptionsError extends Error {
  override name = 'SimOptionsError';
}

export async function startSim(options: StartSimOptions = {}): Promise<RunningSim> {
  for (const [name, tokens] of Object.entries(options.classes ?? {})) {
    const parsed = RegisterClassRequest.safeParse({ name, tokens });
    if (!parsed.success) {
      throw new SimOptionsError(`resource class ${name}: ${parsed.error.issues[0]?.message}`, {
        cause: parsed.error,
      });
    }
  }
  const state = new SimState({
    ...(options.classes === undefined ? {} : { classes: options.classes }),
    ...(options.apiToken === undefined ? {} : { apiToken: options.apiToken }),
    ...(options.agentVersion === undefined ? {} : { agentVersion: options.agentVersion }),
  });
  const app = buildSimApp(
    { state, faults: new FaultBook(), stats: new RequestStats() },
    {
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    },
  );
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port ?? 0 });
  } catch (error) {
    await app.close();
    throw error;
  }
  let reporter: PodReporter | undefined;
  if (options.agent) {
    reporter = new PodReporter({
      kc: options.agent.kc,
      state,
      ...(options.agent.namespace === undefined ? {} : { namespace: options.agent.namespace }),
      onEvent: (e) => app.log.info(e, 'task agent'),
    });
    try {
      await reporter.start();
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  const leaseMs = options.claimLeaseMs ?? 60_000;
  const leaseTimer = setInterval(() => state.expireClaims(leaseMs), Math.min(1_000, leaseMs / 4));
  leaseTimer.unref();
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    state,
    close: () => {
      clearInterval(leaseTimer);
      closing ??= Promise.allSettled([reporter?.stop(), app.close()]).then((results) => {
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      });
      return closing;
    },
  };
}

/** A wildcard listen address is not somewhere to connect to; loopback is. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
