// Runs each service as a real process under its own ServiceAccount: a token minted with
// the TokenRequest API (the test bed has no token controller), written into a kubeconfig
// of its own, passed as KUBECONFIG. Logs are kept per service.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stopChild, waitFor } from '@longshore/testbed/testing';
import { stringify } from 'yaml';
import type { Service } from './rbac-objects.ts';
import type { Workload } from './rbac-render.ts';

/** A token for the ServiceAccount, as the kubelet would mount it. */
export async function mintToken(core: CoreV1Api, namespace: string, serviceAccount: string): Promise<string> {
  const r = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = r.status?.token;
  if (!token) throw new Error(`no token issued for ServiceAccount ${namespace}/${serviceAccount}`);
  return token;
}

/** A kubeconfig for the admin's cluster with this bearer token, defaulting to `namespace`. */
export function kubeconfigFor(admin: KubeConfig, user: string, token: string, namespace: string): string {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'testbed',
        cluster: {
          server: cluster.server,
          ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}),
          ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}),
        },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'testbed', user, namespace } }],
    'current-context': user,
  });
}

export function loadKubeconfigText(text: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}

/** The services, each a process with its own kubeconfig; one config file for all. */
export class ServiceProcesses {
  readonly logs = new Map<Service, string[]>();
  readonly #procs = new Map<Service, ChildProcess>();

  readonly dir: string;
  readonly configFile: string;
  readonly instance: string;

  constructor(dir: string, configFile: string, instance: string) {
    this.dir = dir;
    this.configFile = configFile;
    this.instance = instance;
  }

  /**
   * Starts a service as its Deployment would: the container's command (from `dir`, which
   * stands in for the image's working directory and holds its dist/) and environment, with the config file, NATS and Redis
   * pointed at the test bed and KUBECONFIG standing in for the mounted account token.
   */
  async start(service: Service, kubeconfig: string, workload: Workload, testbed: Record<string, string>) {
    const file = join(this.dir, `kubeconfig-${service}.yaml`);
    await writeFile(file, kubeconfig, { mode: 0o600 });
    const lines: string[] = [];
    this.logs.set(service, lines);
    const [node, ...args] = workload.command;
    if (node !== 'node' || args.length === 0)
      throw new Error(`${service}: unexpected container command ${JSON.stringify(workload.command)}`);
    const env: Record<string, string> = {};
    for (const e of workload.env) if (e.value !== undefined) env[e.name] = e.value;
    const child = spawn(process.execPath, args, {
      cwd: this.dir,
      env: {
        ...env,
        ...testbed,
        PATH: process.env.PATH ?? '',
        LONGSHORE_CONFIG: this.configFile,
        KUBECONFIG: file,
        // Pods differ by name (the chart passes it from the downward API); processes on one
        // host need telling apart.
        LONGSHORE_INSTANCE: `${service}-${this.instance}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line) lines.push(line);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#procs.set(service, child);
  }

  running(service: Service): boolean {
    const c = this.#procs.get(service);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** The last lines of every service's log, for a failure message. */
  tail(n = 15): string {
    return [...this.logs]
      .map(
        ([svc, lines]) => `--- ${svc}${this.running(svc) ? '' : ' (exited)'}\n${lines.slice(-n).join('\n')}`,
      )
      .join('\n');
  }

  /** Polls `probe` (the shared waitFor) every 200 ms; the timeout shows every service's last lines. */
  waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined> | T | undefined,
    timeoutMs = 60_000,
  ): Promise<T> {
    return waitFor(what, probe, { timeoutMs, intervalMs: 200, detail: () => this.tail() });
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.all([...this.#procs.values()].map((c) => stopChild(c, graceMs)));
  }
}
