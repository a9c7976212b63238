// The metrics as a fleet owner's Prometheus sees them: a real Prometheus scrapes the
// services on the test bed while a small workload runs (tasks that succeed, one that fails,
// one evicted and retried until it fails), and PromQL must find every stage of every task,
// each counted once, the retries, and the outside calls (RED) behind them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fleet, PrometheusServer } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PLAIN = 'e2e/prom';
const SPOT = 'e2e/promspot';
const MACHINE = 'e2e/prommachine';
const SERVICES = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'] as const;

let fleet: Fleet | undefined;
let prom: PrometheusServer | undefined;
let ids: string[] = [];

beforeAll(async () => {
  fleet = await Fleet.start({
    classes: {
      [PLAIN]: { token: 'tok-prom-plain-0001' },
      [SPOT]: { token: 'tok-prom-spot-00001', enableUnsafeRetries: true },
    },
    maxConcurrentTasks: 6,
    machineClass: { name: MACHINE, token: 'tok-prom-machine-01', minReplicas: 1, maxReplicas: 3 },
  });
  const f = fleet;
  for (const s of SERVICES) f.spawn(s);
  const urls = await f.waitFor('every service serving /metrics', async () => {
    const u = SERVICES.map((s) => f.services.get(s)?.healthUrl);
    return u.every((x) => x !== undefined) ? (u as string[]) : undefined;
  });
  prom = await PrometheusServer.start({
    jobs: Object.fromEntries(SERVICES.map((s, i) => [`longshore-${s}`, [new URL(urls[i]!).host]])),
  });
  const enqueue = (rc: string, fate: string) =>
    f.admin.enqueue({ resource_class: rc, image: `fate.test/${fate}` });
  ids = [
    await enqueue(PLAIN, 'succeed:300ms'),
    await enqueue(PLAIN, 'succeed:300ms'),
    await enqueue(PLAIN, 'succeed:300ms'),
    await enqueue(PLAIN, 'exit-1:300ms'),
    await enqueue(SPOT, 'evict:300ms'),
  ];
  // Two machine jobs: the vm-scaler sizes the pool to them (no machine runner claims them here).
  await f.admin.enqueue({ resource_class: MACHINE, image: 'machine' });
  await f.admin.enqueue({ resource_class: MACHINE, image: 'machine' });
  await f.waitFor('every target scraped', async () => {
    const t = await prom!.targets();
    return t.length === SERVICES.length && t.every((x) => x.health === 'up') ? true : undefined;
  });
  await f.waitForTasksEnded(ids, 150_000);
  await f.waitFor('no task pod or Secret left', async () => {
    const o = await f.taskObjects();
    return o.pods.length + o.secrets.length === 0 ? true : undefined;
  });
}, 240_000);

afterAll(async () => {
  await prom?.stop();
  await fleet?.stop();
});

/** Waits until Prometheus has scraped what the services counted (a scrape a second). */
async function settled(expr: string, want: number): Promise<void> {
  await fleet!.waitFor(
    `${expr} = ${want}`,
    async () => ((await prom!.value(expr)) === want ? true : undefined),
    30_000,
  );
}

describe('metrics through a real Prometheus', () => {
  it('scrapes every service', async () => {
    await fleet!.waitFor('every target up', async () => {
      const t = await prom!.targets();
      return t.length === SERVICES.length && t.every((x) => x.health === 'up') ? true : undefined;
    });
    expect(await prom!.value('count(up == 1)')).toBe(SERVICES.length);
  });

  it('has every stage of every pod once: 3 succeeded, 1 failed, 1 evicted in 4 attempts', async () => {
    // Pods: 3 + 1 + 4 attempts. Each stage's count is per pod, whichever replica timed it.
    const pods = 8;
    await settled('sum(longshore_scheduler_task_stage_seconds_count{stage="end_to_end"})', pods);
    const byStage = async (metric: string) =>
      Object.fromEntries(
        (await prom!.query(`sum by (stage) (${metric})`)).map((s) => [s.metric.stage!, s.value]),
      );
    expect(await byStage('longshore_claimer_task_stage_seconds_count')).toEqual({ config_fetched: pods });
    expect(await byStage('longshore_scheduler_task_stage_seconds_count')).toEqual({
      pod_created: pods,
      running: pods,
      ended: pods,
      cleaned_up: pods,
      end_to_end: pods,
    });
    // By class, and within the buckets a 300 ms task fits (running -> ended below 30 s).
    const byClass = await prom!.query(
      'sum by (resource_class) (longshore_scheduler_task_stage_seconds_count{stage="ended"})',
    );
    expect(Object.fromEntries(byClass.map((s) => [s.metric.resource_class, s.value]))).toEqual({
      [PLAIN]: 4,
      [SPOT]: 4,
    });
    expect(
      await prom!.value('sum(longshore_scheduler_task_stage_seconds_bucket{stage="ended",le="30"})'),
    ).toBe(pods);
    // A p99 PromQL can compute, as the dashboard does.
    const p99 = await prom!.value(
      'histogram_quantile(0.99, sum by (le) (longshore_scheduler_task_stage_seconds_bucket{stage="end_to_end"}))',
    );
    expect(p99).toBeGreaterThan(0);
  });

  it("has the VM pool's desired size from the queue", async () => {
    await settled(`longshore_vm_scaler_desired_vms{resource_class="${MACHINE}"}`, 2);
    expect(await prom!.value(`longshore_vm_scaler_unclaimed_tasks{resource_class="${MACHINE}"}`)).toBe(2);
  });

  it('counts endings by class and reason once, and the retries', async () => {
    await settled('sum(longshore_scheduler_tasks_ended_total)', 8);
    expect(
      await prom!.value(
        `sum(longshore_scheduler_task_retries_total{resource_class="${SPOT}",reason="evicted"})`,
      ),
    ).toBe(3);
    expect(await prom!.value(`sum(longshore_scheduler_tasks_ended_total{resource_class="${PLAIN}"})`)).toBe(
      4,
    );
    expect(await prom!.value('sum(longshore_claimer_max_in_flight)')).toBe(6);
    expect(await prom!.value('sum(longshore_claimer_in_flight)')).toBe(0);
    expect(await prom!.value(`longshore_claimer_class_max_in_flight{resource_class="${SPOT}"}`)).toBe(6);
  });

  it('documents every longshore_ metric in docs/metrics.md, named by the conventions', async () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'metrics.md'), 'utf8');
    const families = Object.entries(await prom!.metadata()).filter(([n]) => n.startsWith('longshore_'));
    expect(families.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const [name, type] of families) {
      if (!doc.includes(`\`${name}\``)) problems.push(`${name}: not in docs/metrics.md`);
      const service = name.split('_')[1];
      if (!['claimer', 'scheduler', 'gc', 'constraints', 'vm'].includes(service ?? ''))
        problems.push(`${name}: not longshore_<service>_...`);
      if (type === 'counter' && !name.endsWith('_total'))
        problems.push(`${name}: a counter not ending in _total`);
      if (type === 'histogram' && !name.endsWith('_seconds'))
        problems.push(`${name}: a histogram not in _seconds`);
      if (type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: a ${type} ending in _total`);
    }
    expect(problems).toEqual([]);
  });
});
