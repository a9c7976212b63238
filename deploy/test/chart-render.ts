// Runs the real helm against deploy/helm/longshore: lint and template with values files
// and inline values, and parses what it renders.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type LongshoreConfig, loadLongshoreConfig } from '@longshore/config';
import { parseAllDocuments, stringify } from 'yaml';
import { helmBinary } from '../../testbed/src/binaries.ts';

const run = promisify(execFile);
export const CHART = join(import.meta.dirname, '..', 'helm', 'longshore');
export const EXAMPLES = join(import.meta.dirname, '..', 'helm', 'examples');
/** Seed 000's and seed 002's example values files. */
export const CONTAINER_AGENT_VALUES = join(EXAMPLES, 'container-agent-values.yaml');
export const PROVISIONER_VALUES = join(EXAMPLES, 'provisioner-values.yaml');

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

/** What helm printed, and its exit status (0 on success). */
export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Values for one helm run: files (applied in order), then inline values applied last. */
export interface ValuesInput {
  files?: readonly string[];
  values?: unknown;
}

export async function helm(
  args: readonly string[],
  input: ValuesInput = {},
  env: Record<string, string> = {},
): Promise<HelmResult> {
  const dir = await mkdtemp(join(tmpdir(), 'longshore-chart-'));
  try {
    const valueArgs = (input.files ?? []).flatMap((f) => ['--values', f]);
    if (input.values !== undefined) {
      const file = join(dir, 'inline-values.yaml');
      await writeFile(file, stringify(input.values));
      valueArgs.push('--values', file);
    }
    try {
      const { stdout, stderr } = await run(helmBinary(), [...args, ...valueArgs], {
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(dir, 'cache'),
          HELM_CONFIG_HOME: join(dir, 'config'),
          HELM_DATA_HOME: join(dir, 'data'),
          ...env,
        },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function lint(input: ValuesInput = {}): Promise<HelmResult> {
  return helm(['lint', CHART, '--strict', '--with-subcharts'], input);
}

/** `helm template`; throws with helm's message when it fails. */
export async function template(
  input: ValuesInput = {},
  opts: { release?: string; namespace?: string } = {},
): Promise<Manifest[]> {
  const r = await templateRaw(input, opts);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}

export function templateRaw(
  input: ValuesInput = {},
  opts: { release?: string; namespace?: string } = {},
): Promise<HelmResult> {
  return helm(['template', opts.release ?? 'ls', CHART, '--namespace', opts.namespace ?? 'longshore'], input);
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null && typeof o === 'object' && typeof o.kind === 'string');
}

/** The one object of this kind and name; throws listing what there is otherwise. */
export function find(objects: readonly Manifest[], kind: string, name: string): Manifest {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) {
    const have = objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} rendered; have ${have}`);
  }
  return o;
}

interface PodTemplate {
  metadata: { annotations?: Record<string, string> };
  spec: {
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    automountServiceAccountToken?: boolean;
    securityContext?: Record<string, unknown>;
    containers: {
      name: string;
      image: string;
      command?: string[];
      env?: { name: string; value?: string; valueFrom?: unknown }[];
      securityContext?: Record<string, unknown>;
      resources?: Record<string, unknown>;
      livenessProbe?: { httpGet?: { path: string } };
      readinessProbe?: { httpGet?: { path: string } };
    }[];
  };
}

export function podTemplate(workload: Manifest): PodTemplate {
  return (workload.spec as { template: PodTemplate }).template;
}

/** The config file the chart renders for the services (the ConfigMap's config.yaml). */
export function configText(objects: readonly Manifest[]): string {
  // The services' ConfigMap (<fullname>-config); a clustered NATS has one of its own (nats.conf).
  const cm = objects.find(
    (o) =>
      o.kind === 'ConfigMap' && (o.data as Record<string, string> | undefined)?.['config.yaml'] !== undefined,
  );
  const text = (cm?.data as Record<string, string> | undefined)?.['config.yaml'];
  if (text === undefined) throw new Error('no ConfigMap with config.yaml rendered');
  return text;
}

/** A Secret's data, decoded. */
export function secretData(secret: Manifest): Record<string, string> {
  const data = (secret.data as Record<string, string> | null | undefined) ?? {};
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** The rendered config.yaml through the real loader, with no env (as in the pod, minus URLs). */
export async function loadRendered(objects: readonly Manifest[]): Promise<LongshoreConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'longshore-config-'));
  try {
    const file = join(dir, 'config.yaml');
    await writeFile(file, configText(objects));
    return await loadLongshoreConfig({ file, env: {} });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
