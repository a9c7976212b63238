// main.ts as a real process serves the metrics of its outside calls, wired once in
// @longshore/runtime: Kubernetes requests, Runner API calls, bus publishes, and the pool's
// ready VMs beside the desired ones.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, readTestbedEnv, type ServiceProcess, spawnService } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ScalerWorld } from './support.ts';

let proc: ServiceProcess | undefined;
let dir: string | undefined;
let world: ScalerWorld | undefined;

afterEach(async () => {
  await proc?.stop(2_000);
  if (dir) await rm(dir, { recursive: true, force: true });
  await world?.teardown();
  proc = dir = world = undefined;
});

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (labels in whatever order they came). */
function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one series of `name` with these labels (and service="vm-scaler"), if any. */
function find(all: Series[], name: string, labels: Record<string, string>): number | undefined {
  const want = { ...labels, service: 'vm-scaler' };
  return all.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(want).length &&
      Object.entries(want).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

describe('vm-scaler /metrics', () => {
  it('counts its Kubernetes, Runner API and bus calls by outcome, and reports ready VMs beside desired', async () => {
    const rc = { name: 'acme/metrics', min: 1, max: 2 };
    world = await new ScalerWorld().setup('vms-metrics', [rc]);
    dir = await mkdtemp(join(tmpdir(), 'vm-scaler-metrics-'));
    const configFile = join(dir, 'values.yaml');
    await writeFile(
      configFile,
      `${world.configYaml([rc])}\nhttp: {host: 127.0.0.1, port: 0}\nbus: {prefix: ${world.prefix}}\n`,
    );
    const { KUBECONFIG, NATS_URL, REDIS_URL } = readTestbedEnv();
    const run = spawnService('vm-scaler', {
      configFile,
      kubeconfig: KUBECONFIG,
      env: { NATS_URL, REDIS_URL },
    });
    proc = run;
    const url = await eventually(() => {
      if (run.healthUrl === undefined) throw new Error(`not listening yet:\n${run.tail()}`);
      return run.healthUrl;
    }, 30_000);
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 30_000);
    const scrape = async () => parseMetrics(await (await fetch(`${url}/metrics`)).text());
    // A decision is published after the cycle that made the scaler ready.
    const series = await eventually(async () => {
      const all = await scrape();
      expect(
        find(all, 'longshore_vm_scaler_bus_published_total', { subject: 'scaler.decision', outcome: 'ok' }),
      ).toBeGreaterThan(0);
      return all;
    }, 30_000);
    const kube = (verb: string, resource: string, outcome: string) => ({ verb, resource, outcome });
    for (const [name, labels] of [
      ['longshore_vm_scaler_kube_requests_total', kube('create', 'virtualmachinepools', '2xx')],
      ['longshore_vm_scaler_kube_requests_total', kube('get', 'virtualmachinepools', '2xx')],
      // A Secret read before it is created: the apiserver's 404 is an answer, counted as such.
      ['longshore_vm_scaler_kube_requests_total', kube('get', 'secrets', '4xx')],
      ['longshore_vm_scaler_kube_requests_total', kube('get', 'version', '2xx')],
      ['longshore_vm_scaler_kube_request_duration_seconds_count', kube('get', 'virtualmachinepools', '2xx')],
      ['longshore_vm_scaler_runner_api_requests_total', { operation: 'unclaimed_count', outcome: '2xx' }],
      ['longshore_vm_scaler_runner_api_requests_total', { operation: 'running_count', outcome: '2xx' }],
      [
        'longshore_vm_scaler_runner_api_request_duration_seconds_count',
        { operation: 'running_count', outcome: '2xx' },
      ],
      [
        'longshore_vm_scaler_bus_publish_duration_seconds_count',
        { subject: 'scaler.decision', outcome: 'ok' },
      ],
    ] as const) {
      expect(find(series, name, labels), `${name} ${JSON.stringify(labels)}`).toBeGreaterThan(0);
    }
    // The test bed runs no KubeVirt: nothing writes the pool's status, so no VM is ready.
    expect(find(series, 'longshore_vm_scaler_ready_vms', { resource_class: rc.name })).toBe(0);
    expect(find(series, 'longshore_vm_scaler_desired_vms', { resource_class: rc.name })).toBe(1);
  });
});
