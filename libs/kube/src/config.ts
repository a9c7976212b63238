// Where the Kubernetes credentials come from, in a fixed order: an explicit kubeconfig
// path (config `kube.kubeconfig`), else $KUBECONFIG, else the pod's service account. We do
// not fall back to ~/.kube/config as kubectl does: a service that silently picked up a
// developer's personal context could create pods in the wrong cluster.
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeRequestObserver } from './observe.ts';
import { PooledKubeConfig } from './pooled.ts';

/** No usable Kubernetes configuration. The message says what was tried. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadKubeConfigOptions {
  /** Path of a kubeconfig file; wins over everything else. */
  readonly kubeconfig?: string | undefined;
  /** Read for KUBECONFIG and KUBERNETES_SERVICE_HOST/PORT; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where the service account's token, ca.crt and namespace are mounted (tests change it). */
  readonly serviceAccountDir?: string;
  /** Told of every apiserver request made with the configuration (see observe.ts). */
  readonly observer?: KubeRequestObserver;
}

export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const env = options.env ?? process.env;
  const pooled = () => new PooledKubeConfig({ observer: options.observer });
  if (options.kubeconfig) return fromFiles(pooled(), [options.kubeconfig], 'the kubeconfig option');
  const fromEnv = env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [];
  if (fromEnv.length > 0) return fromFiles(pooled(), fromEnv, 'KUBECONFIG');
  const saDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(saDir, 'token');
  if (host && port && existsSync(tokenFile)) return inCluster(pooled(), host, port, saDir);
  const why = !host || !port ? 'KUBERNETES_SERVICE_HOST/PORT are not set' : `${tokenFile} does not exist`;
  throw new KubeConfigError(
    `no Kubernetes configuration: no kubeconfig path was configured (kube.kubeconfig), KUBECONFIG is not set, ` +
      `and this is not a pod with a service account (${why})`,
  );
}

/** Loads one file, or several merged as kubectl merges $KUBECONFIG (first file's context wins), into `kc`. */
function fromFiles(kc: PooledKubeConfig, files: readonly string[], origin: string): KubeConfig {
  for (const [i, file] of files.entries()) {
    if (!existsSync(file)) throw new KubeConfigError(`kubeconfig ${file} (from ${origin}) does not exist`);
    try {
      if (i === 0) {
        kc.loadFromFile(file);
      } else {
        const more = new PooledKubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more, true);
      }
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${file} (from ${origin}) is invalid: ${messageOf(err)}`, {
        cause: err,
      });
    }
  }
  const label = files.length === 1 ? `kubeconfig ${files[0]}` : `kubeconfigs ${files.join(delimiter)}`;
  if (!kc.getCurrentContext()) throw new KubeConfigError(`${label} (from ${origin}) has no current-context`);
  if (!kc.getCurrentCluster()) {
    throw new KubeConfigError(
      `${label} (from ${origin}): current-context "${kc.getCurrentContext()}" has no cluster`,
    );
  }
  return kc;
}

/**
 * The service-account configuration, as client-node's loadFromCluster builds it but from
 * the given env and directory. The token is read from its file on use, so rotated
 * (projected) tokens keep working.
 */
function inCluster(kc: PooledKubeConfig, host: string, port: string, saDir: string): KubeConfig {
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const server = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const nsFile = join(saDir, 'namespace');
  const namespace = existsSync(nsFile) ? readTrimmed(nsFile) : undefined;
  kc.loadFromOptions({
    clusters: [{ name: 'inCluster', server, caFile: join(saDir, 'ca.crt'), skipTLSVerify: false }],
    users: [
      {
        name: 'inClusterUser',
        authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } },
      },
    ],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', namespace }],
    currentContext: 'inClusterContext',
  });
  return kc;
}

/** The namespace of the current context (in a pod: its own namespace), if any. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
}

function readTrimmed(file: string): string {
  // Synchronous like the rest of loading: this runs once, at start-up.
  return readFileSync(file, 'utf8').trim();
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
