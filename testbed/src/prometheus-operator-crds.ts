// prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs, as upstream
// publishes them (testbed/scripts/prometheus-operator-crds.sh fetches and caches them), for
// tests that need the apiserver to check monitoring objects against the real schemas. Not
// installed by `testbed up`: only the chart's monitoring test needs them.
//
// They are sent as raw JSON (kubeRequest), not through client-node's typed API: its
// ObjectSerializer knows the schema extensions only in their underscore spelling and would
// silently drop upstream's x-kubernetes-* keys (see crds.ts).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeRequestError, kubeRequest } from '@longshore/kube';
import { parse } from 'yaml';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

export const PROMETHEUS_OPERATOR_VERSION = process.env.PROMETHEUS_OPERATOR_VERSION ?? 'v0.85.0';
const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'prometheus-operator-crds.sh');
const FILES = ['servicemonitors', 'podmonitors', 'prometheusrules'].map(
  (plural) => `monitoring.coreos.com_${plural}.yaml`,
);
const CRDS_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** A CRD as upstream wrote it: only what is read here is typed. */
export interface CrdManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; resourceVersion?: string };
  spec: unknown;
  status?: { conditions?: { type: string; status: string }[] };
}

/** The three CRDs, fetched into the cache on first use (a few seconds; then read from disk). */
export async function prometheusOperatorCrds(): Promise<CrdManifest[]> {
  const { stdout } = await run('bash', [SCRIPT], {
    env: { ...process.env, PROMETHEUS_OPERATOR_VERSION },
    timeout: 5 * 60_000,
  });
  const dir = stdout.trim();
  return Promise.all(FILES.map(async (f) => parse(await readFile(join(dir, f), 'utf8')) as CrdManifest));
}

/**
 * Installs the CRDs on the cluster (replacing older copies of another version) and waits
 * until each is Established, so objects of their kinds are accepted. Idempotent: the test
 * bed is shared, and a second run finds them in place.
 */
export async function ensurePrometheusOperatorCrds(kc: KubeConfig): Promise<void> {
  const crds = await prometheusOperatorCrds();
  for (const crd of crds) {
    try {
      await kubeRequest(kc, { method: 'POST', path: CRDS_PATH, body: crd });
    } catch (err) {
      if (!(err instanceof KubeRequestError) || err.statusCode !== 409) throw err;
      const path = `${CRDS_PATH}/${crd.metadata.name}`;
      const have = (await kubeRequest(kc, { method: 'GET', path })) as CrdManifest;
      const version = (c: CrdManifest) => c.metadata.annotations?.['operator.prometheus.io/version'];
      if (version(have) !== version(crd)) {
        const body = {
          ...crd,
          metadata: { ...crd.metadata, resourceVersion: have.metadata.resourceVersion },
        };
        await kubeRequest(kc, { method: 'PUT', path, body });
      }
    }
  }
  await Promise.all(
    crds.map((crd) =>
      waitFor(
        `CRD ${crd.metadata.name} Established`,
        async () => {
          const c = (await kubeRequest(kc, {
            method: 'GET',
            path: `${CRDS_PATH}/${crd.metadata.name}`,
          })) as CrdManifest;
          return (c.status?.conditions ?? []).some((x) => x.type === 'Established' && x.status === 'True');
        },
        { timeoutMs: 30_000 },
      ),
    ),
  );
}
