// What the least-privilege test takes from `helm template`: the RBAC objects, the Secrets
// the services read, the config file the ConfigMap carries, and each service's Deployment
// (its ServiceAccount, command and environment), so the processes run as the chart would.
import { parse } from 'yaml';
import { helmTemplate, type KubeObject, RBAC_KINDS, SERVICES, type Service } from './rbac-objects.ts';

export interface Workload {
  serviceAccountName: string;
  /** The container's command, e.g. `node dist/gc.mjs`. */
  command: string[];
  env: { name: string; value?: string }[];
}

export interface Rendered {
  /** ServiceAccounts, Roles, ClusterRoles and their bindings. */
  rbac: KubeObject[];
  /** The Secrets the chart renders (resource class tokens, provisioner). */
  secrets: KubeObject[];
  /** The services' config.yaml, from the chart's ConfigMap. */
  config: ChartConfig;
  workloads: Record<Service, Workload>;
}

export interface ChartConfig {
  agent: { customSecret: string; namespace: string } & Record<string, unknown>;
  provisioner: { existingSecret: string; namespace: string } & Record<string, unknown>;
  [k: string]: unknown;
}

interface PodTemplate {
  spec: {
    serviceAccountName?: string;
    containers: { name: string; command?: string[]; env?: { name: string; value?: string }[] }[];
  };
}

export async function renderChart(release: string, namespace: string, values: unknown): Promise<Rendered> {
  const objects = await helmTemplate(release, namespace, values);
  const configMaps = objects.filter(
    (o) => o.kind === 'ConfigMap' && (o.data as Record<string, string>)['config.yaml'],
  );
  if (configMaps.length !== 1)
    throw new Error(`expected one ConfigMap with config.yaml, got ${configMaps.length}`);
  const config = parse((configMaps[0]!.data as Record<string, string>)['config.yaml']!) as ChartConfig;
  // The services read their tokens from the chart's Secrets, which is what the Roles allow.
  if (!config.agent?.customSecret || !config.provisioner?.existingSecret)
    throw new Error(
      'the chart config names no token Secret (agent.customSecret, provisioner.existingSecret)',
    );
  const workloads: Partial<Record<Service, Workload>> = {};
  for (const d of objects.filter((o) => o.kind === 'Deployment')) {
    const svc = d.metadata.labels?.['app.kubernetes.io/component'] as Service | undefined;
    if (!svc || !(SERVICES as readonly string[]).includes(svc)) continue;
    const pod = (d.spec as { template: PodTemplate }).template.spec;
    const c = pod.containers.find((x) => x.name === svc) ?? pod.containers[0]!;
    workloads[svc] = {
      serviceAccountName: pod.serviceAccountName ?? '',
      command: c.command ?? [],
      env: c.env ?? [],
    };
  }
  const missing = SERVICES.filter((s) => !workloads[s]);
  if (missing.length > 0) throw new Error(`no Deployment rendered for: ${missing.join(', ')}`);
  return {
    rbac: objects.filter((o) => RBAC_KINDS.has(o.kind)),
    secrets: objects.filter((o) => o.kind === 'Secret'),
    config,
    workloads: workloads as Record<Service, Workload>,
  };
}
