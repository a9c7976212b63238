// Two names a service goes by. The runner name is what CircleCI shows in its runner
// inventory (the claim's `name`): seed 000's agent.name, "if not set, the name of the
// deployment", so it is the same for every replica and survives pod restarts. The
// instance name tells replicas apart: the claimer's ledger records and its bus durable
// are keyed by it, so two replicas must never share one, even when agent.name is set.
// Kubernetes gives each pod its own name; the chart passes it and the Deployment's name in
// the environment (the pod's host name is its name too, but the environment says so
// explicitly, and lets processes that share a host, as in tests, be told apart).

/** Set by the chart to the pod's name (downward API metadata.name). */
export const INSTANCE_ENV = 'LONGSHORE_INSTANCE';
/** Set by the chart to the name of the service's Deployment. */
export const DEPLOYMENT_ENV = 'LONGSHORE_DEPLOYMENT';

export interface ServiceNames {
  /** Unique per replica: $LONGSHORE_INSTANCE, else the host name. */
  readonly instance: string;
  /** Stable across replicas and restarts: agent.name, else $LONGSHORE_DEPLOYMENT, else the host name. */
  readonly runnerName: string;
}

export function serviceNames(
  agentName: string,
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
): ServiceNames {
  const instance = env[INSTANCE_ENV]?.trim() || hostname;
  return { instance, runnerName: agentName.trim() || env[DEPLOYMENT_ENV]?.trim() || hostname };
}
