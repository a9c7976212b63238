// The chart as the least-privilege test uses it: rendered by `helm template`, its RBAC
// picked out, applied to the test bed with the admin client, and checked statically.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { isNotFound } from '@longshore/kube';
import { parseAllDocuments, stringify } from 'yaml';

const run = promisify(execFile);
export const REPO = join(import.meta.dirname, '..', '..');
export const CHART = join(REPO, 'deploy', 'helm', 'longshore');
export const SERVICES = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'] as const;
export type Service = (typeof SERVICES)[number];
/** Every account the chart makes: the services', and seed 000's for task pods' logging containers. */
export const ACCOUNTS = [...SERVICES, 'logging'] as const;
export type Account = (typeof ACCOUNTS)[number];

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

export const RBAC_KINDS = new Set([
  'ServiceAccount',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
]);

/** The helm binary: $HELM, else the one the test bed's binary cache holds. */
export function helmBinary(): string {
  return process.env.HELM ?? join(homedir(), '.cache', 'longshore', 'bin', 'helm-v3.22.0');
}

/** Renders the chart with these values, as `helm template` would for an install in `namespace`. */
export async function helmTemplate(
  release: string,
  namespace: string,
  values: unknown,
): Promise<KubeObject[]> {
  const dir = await mkdtemp(join(tmpdir(), 'longshore-helm-'));
  try {
    const file = join(dir, 'values.yaml');
    await writeFile(file, stringify(values));
    const { stdout } = await run(
      helmBinary(),
      ['template', release, CHART, '--namespace', namespace, '--values', file],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return parseManifests(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object' && typeof o.kind === 'string');
}

/** Which service an object belongs to, by the chart's component label. */
export function componentOf(o: KubeObject): string | undefined {
  return o.metadata.labels?.['app.kubernetes.io/component'];
}

export interface AccountRef {
  name: string;
  namespace: string;
}

/** The ServiceAccount of each account, by its component label. */
export function serviceAccounts(objects: readonly KubeObject[]): Record<Account, AccountRef> {
  const out: Partial<Record<Account, AccountRef>> = {};
  for (const o of objects) {
    if (o.kind !== 'ServiceAccount') continue;
    const c = componentOf(o) as Account | undefined;
    if (c === undefined || !(ACCOUNTS as readonly string[]).includes(c))
      throw new Error(`ServiceAccount ${o.metadata.name} belongs to no known component (${c})`);
    if (out[c]) throw new Error(`two ServiceAccounts for ${c}: ${out[c].name} and ${o.metadata.name}`);
    if (!o.metadata.namespace)
      throw new Error(`ServiceAccount ${o.metadata.name} is rendered without a namespace`);
    out[c] = { name: o.metadata.name, namespace: o.metadata.namespace };
  }
  const missing = ACCOUNTS.filter((s) => !out[s]);
  if (missing.length > 0) throw new Error(`no ServiceAccount labelled for: ${missing.join(', ')}`);
  return out as Record<Account, AccountRef>;
}

/** Every rule of every rendered Role and ClusterRole, with where it came from. */
export function allRules(objects: readonly KubeObject[]): { role: string; kind: string; rule: PolicyRule }[] {
  return objects
    .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
    .flatMap((o) =>
      ((o.rules as PolicyRule[] | undefined) ?? []).map((rule) => ({
        role: o.metadata.name,
        kind: o.kind,
        rule,
      })),
    );
}

/** Rules that grant a wildcard verb, resource or API group, or non-resource URLs. */
export function wildcardRules(objects: readonly KubeObject[]): string[] {
  return allRules(objects)
    .filter(
      ({ rule }) =>
        rule.verbs.includes('*') ||
        (rule.resources ?? []).some((r) => r === '*' || r.startsWith('*/')) ||
        (rule.apiGroups ?? []).includes('*') ||
        (rule.nonResourceURLs ?? []).length > 0,
    )
    .map(({ kind, role, rule }) => `${kind} ${role}: ${JSON.stringify(rule)}`);
}

/**
 * Applies objects with the admin client: namespaced ones where the chart put them, which
 * must be one of `namespaces` (the first when the chart left it out). Returns a cleanup
 * that deletes them again, the cluster-scoped ones above all (they outlive namespaces).
 */
export async function applyAll(
  kc: KubeConfig,
  namespaces: readonly string[],
  objects: readonly KubeObject[],
): Promise<() => Promise<void>> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const created: KubeObject[] = [];
  const cleanup = async () => {
    for (const o of created.splice(0).reverse()) {
      await api.delete(o).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  };
  try {
    for (const o of objects) {
      let body = o;
      if (!o.kind.startsWith('Cluster')) {
        const ns = o.metadata.namespace ?? namespaces[0]!;
        if (!namespaces.includes(ns))
          throw new Error(
            `${o.kind} ${o.metadata.name} is rendered into ${ns}, not one of ${namespaces.join(', ')}`,
          );
        body = { ...o, metadata: { ...o.metadata, namespace: ns } };
      }
      await api.create(body);
      created.push(body);
    }
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
  return cleanup;
}
