// The metrics as a fleet owner's Prometheus sees them: a real Prometheus scrapes the
// services on the test bed while a small workload runs (tasks that succeed, one that fails,
// one evicted and retried until it fails), and PromQL must find every stage of every task,
// each counted once, the retries, and the outside calls (RED) behind them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Labels, MANAGED_BY } from '@longshore/contracts';
import { Fleet, PrometheusServer } from '@longshore/testbed/testing';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRules, dashboardQueries } from '../deploy/test/monitoring.ts';

const PLAIN = 'e2e/prom';
const SPOT = 'e2e/promspot';
const REFUSED = 'e2e/promrefused';
const CHART_FILES = join(import.meta.dirname, '..', 'deploy', 'helm', 'longshore', 'files');
const ALERTS = readFileSync(join(CHART_FILES, 'alerts.yaml'), 'utf8');
const MACHINE = 'e2e/prommachine';
/** Pods of the workload: 3 succeed, 1 fails, 1 evicted in 4 attempts. */
const PODS = 8;
/** Config fetches of the task whose config never validates (UNREADABLE_STEP_BUDGET's tries). */
const UNUSABLE_TRIES = 3;
const SERVICES = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'] as const;

let fleet: Fleet | undefined;
let prom: PrometheusServer | undefined;
let ids: string[] = [];

beforeAll(async () => {
  fleet = await Fleet.start({
    classes: {
      [PLAIN]: { token: 'tok-prom-plain-0001' },
      [SPOT]: { token: 'tok-prom-spot-00001', enableUnsafeRetries: true },
      // The simulator refuses this class's token: the token-refused alert's scenario.
      [REFUSED]: { token: 'tok-prom-refused-01', registered: false },
    },
    maxConcurrentTasks: 6,
    // Checks and sweeps often enough for a short test to see several.
    agent: {
      constraintChecker: { enable: true, interval: '5s' },
      gc: { interval: '2s', orphanGrace: '2s' },
    },
    machineClass: { name: MACHINE, token: 'tok-prom-machine-01', minReplicas: 1, maxReplicas: 3 },
  });
  const f = fleet;
  for (const s of SERVICES) f.spawn(s);
  const urls = await f.waitFor('every service serving /metrics', async () => {
    const u = SERVICES.map((s) => f.services.get(s)?.healthUrl);
    return u.every((x) => x !== undefined) ? (u as string[]) : undefined;
  });
  // Jobs named as the chart's monitors name them (the alerts match job=~"longshore-.+").
  prom = await PrometheusServer.start({
    jobs: Object.fromEntries(SERVICES.map((s, i) => [`longshore-${s}`, [new URL(urls[i]!).host]])),
    ruleFiles: [ALERTS],
  });
  const enqueue = (rc: string, fate: string) =>
    f.admin.enqueue({ resource_class: rc, image: `fate.test/${fate}` });
  ids = [
    await enqueue(PLAIN, 'succeed:300ms'),
    await enqueue(PLAIN, 'succeed:300ms'),
    await enqueue(PLAIN, 'succeed:300ms'),
    await enqueue(PLAIN, 'exit-1:300ms'),
    await enqueue(SPOT, 'evict:300ms'),
    // A config that never validates: the claim is dropped (claims_dropped_total).
    await f.admin.enqueue({
      resource_class: PLAIN,
      image: 'fate.test/succeed:300ms',
      config_override: { containers: [{ image: 'NOT AN IMAGE!', environment: {} }] },
    }),
  ];
  // A message on the bus that is not JSON: rejected by the scheduler (bus_rejected_total).
  const nc = await connect({ servers: f.natsUrls });
  nc.publish(`${f.prefix}.task.claimed`, 'not json');
  await nc.drain();
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
  // The pool sized to the queue; then the Runner API fails the vm-scaler's queue counts
  // (503): the scenario of the Runner API errors alert.
  await f.waitFor('the pool sized in Prometheus', async () =>
    (await prom!.value(`longshore_vm_scaler_desired_vms{resource_class="${MACHINE}"}`)) === 2
      ? true
      : undefined,
  );
  await f.admin.setFaults([{ endpoint: 'unclaimedCount', kind: 'status', status: 503 }]);
  // A task Secret with no pod and no claim: the GC deletes it as orphaned (gc_deleted_total).
  await f.kube.core.createNamespacedSecret({
    namespace: f.ns.name,
    body: {
      metadata: {
        name: 'task-orphan-1',
        labels: { [Labels.managedBy]: MANAGED_BY, [Labels.taskId]: 'orphan-1' },
      },
    },
  });
  await f.waitFor('the orphan swept', async () =>
    (await prom!.value('sum(longshore_gc_deleted_total{kind="secret",reason="orphaned"})')) >= 1
      ? true
      : undefined,
  );
  // rate() and increase() need two samples of a series in their window: wait for several
  // scrapes after the workload and the first errors, the swept orphan, and the second refusal
  // of the refused class's token (the claimer asks again after 15 s).
  const atLeast = async (expr: string, n: number) => (await prom!.value(expr)) >= n;
  await f.waitFor('five scrapes of the endings and the errors, the sweep, two refusals', async () =>
    (await atLeast('min(count_over_time(longshore_scheduler_tasks_ended_total[1m]))', 5)) &&
    (await atLeast(
      'min(count_over_time(longshore_vm_scaler_runner_api_requests_total{operation="unclaimed_count",outcome="5xx"}[1m]))',
      5,
    )) &&
    (await atLeast('sum(longshore_gc_deleted_total{kind="secret",reason="orphaned"})', 1)) &&
    (await atLeast(
      `sum(longshore_claimer_claims_total{resource_class="${REFUSED}",outcome="token-refused"})`,
      2,
    ))
      ? true
      : undefined,
  );
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
    const pods = PODS;
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

  it("has the VM pool's desired size from the queue, and no VM ready (no KubeVirt in the test bed)", async () => {
    expect(await prom!.value(`longshore_vm_scaler_desired_vms{resource_class="${MACHINE}"}`)).toBe(2);
    expect(await prom!.value(`longshore_vm_scaler_ready_vms{resource_class="${MACHINE}"}`)).toBe(0);
  });

  it('counts the outside calls (RED): Runner API, Kubernetes, the bus and the ledger, with their outcomes', async () => {
    const q = {
      // One config fetch per pod, each answered, and the unusable task's tries.
      configFetches:
        'sum(longshore_claimer_runner_api_requests_total{operation="task_config",outcome="2xx"})',
      configFetchTimes:
        'sum(longshore_claimer_runner_api_request_duration_seconds_count{operation="task_config",outcome="2xx"})',
      // The scheduler's creates: a Secret and a Pod per attempt.
      secretCreates:
        'sum(longshore_scheduler_kube_requests_total{verb="create",resource="secrets",outcome="2xx"})',
      // Every claim announced once by the claimer and handled once by the scheduler.
      announced: 'sum(longshore_claimer_bus_published_total{subject="task.claimed",outcome="ok"})',
      launched: 'sum(longshore_scheduler_bus_handled_total{subject="task.claimed",outcome="ok"})',
      filed: 'sum(longshore_claimer_ledger_operations_total{operation="commit",outcome="ok"})',
      ledgerErrors: 'sum({__name__=~"longshore_.+_ledger_operations_total",outcome="error"})',
    };
    const got = Object.fromEntries(
      await Promise.all(Object.entries(q).map(async ([k, e]) => [k, await prom!.value(e)] as const)),
    );
    expect(got).toEqual({
      configFetches: PODS + UNUSABLE_TRIES,
      configFetchTimes: PODS + UNUSABLE_TRIES,
      secretCreates: PODS,
      announced: PODS,
      launched: PODS,
      filed: PODS,
      ledgerErrors: 0,
    });
    const more = {
      refusedClaims: 'sum(longshore_claimer_runner_api_requests_total{operation="claim",outcome="4xx"})',
      countErrors:
        'sum(longshore_vm_scaler_runner_api_requests_total{operation="unclaimed_count",outcome="5xx"})',
      podWatches: 'sum(longshore_scheduler_kube_requests_total{verb="watch",resource="pods"})',
      rejected: 'sum(longshore_scheduler_bus_rejected_total{subject="task.claimed",reason="not-json"})',
    };
    for (const [k, e] of Object.entries(more))
      expect([k, await prom!.value(e)]).toEqual([k, expect.any(Number)]);
    for (const [k, e] of Object.entries(more)) expect(await prom!.value(e), k).toBeGreaterThan(0);
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
    // A slot is freed when the claimer closes the claim, after the API knew the task ended
    // (and after the scheduler published it); nothing above waited for the claimer.
    await settled('sum(longshore_claimer_in_flight)', 0);
    expect(await prom!.value('sum(longshore_claimer_in_flight)')).toBe(0);
    expect(await prom!.value(`longshore_claimer_class_max_in_flight{resource_class="${SPOT}"}`)).toBe(6);
  });

  it('documents every longshore_ metric in docs/metrics.md, named by the conventions', async () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'metrics.md'), 'utf8');
    const families = Object.entries(await prom!.metadata()).filter(([n]) => n.startsWith('longshore_'));
    expect(families.length).toBeGreaterThan(20);
    // `longshore_S_...` in the page stands for every service's.
    const documented = [...doc.matchAll(/`(longshore_[A-Za-z_]+)`/g)].map(
      (m) => new RegExp(`^${m[1]!.replace('_S_', '_(claimer|scheduler|gc|constraints|vm_scaler)_')}$`),
    );
    const problems: string[] = [];
    for (const [name, type] of families) {
      if (!documented.some((d) => d.test(name))) problems.push(`${name}: not in docs/metrics.md`);
      const service = name.split('_')[1];
      if (!['claimer', 'scheduler', 'gc', 'constraints', 'vm'].includes(service ?? ''))
        problems.push(`${name}: not longshore_<service>_...`);
      if (type === 'counter' && !name.endsWith('_total'))
        problems.push(`${name}: a counter not ending in _total`);
      if (type === 'histogram' && !name.endsWith('_seconds'))
        problems.push(`${name}: a histogram not in _seconds`);
      if (type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: a ${type} ending in _total`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('runs every query of the dashboard: each parses, and each returns data', async () => {
    const queries = dashboardQueries(readFileSync(join(CHART_FILES, 'dashboard.json'), 'utf8'));
    expect(queries.length).toBeGreaterThan(10);
    const report: string[] = [];
    for (const q of queries) {
      const r = await prom!.query(q.expr).then(
        (x) => (x.length > 0 ? 'data' : 'empty'),
        (e: Error) => `error ${e.message}`,
      );
      report.push(`${r}: ${q.panel}: ${q.expr}`);
    }
    const bad = report.filter((l) => !l.startsWith('data'));
    expect(bad, bad.join('\n')).toEqual([]);
  });

  it('evaluates every alert: each parses, and exactly those this fleet should raise have data', async () => {
    const rules = alertRules(ALERTS);
    const withData: string[] = [];
    for (const r of rules) if ((await prom!.query(r.expr)).length > 0) withData.push(r.alert);
    // The refused token, the pool below its size (no KubeVirt here to make VMs ready), and the
    // vm-scaler's Runner API errors; nothing else.
    expect(withData.sort()).toEqual([
      'LongshoreRunnerApiErrors',
      'LongshoreTokenRefused',
      'LongshoreVmPoolBelowDesired',
    ]);
    // Each names what it is about.
    const refused = await prom!.query(rules.find((r) => r.alert === 'LongshoreTokenRefused')!.expr);
    expect(refused.map((r) => r.metric.resource_class)).toEqual([REFUSED]);
  });
});
