// The chart's monitoring: the alert rules pass `promtool check rules` and their unit tests
// (`promtool test rules`), as the file and as the chart's PrometheusRule renders them; every
// dashboard query parses; and with every metrics.* value on, helm renders a ServiceMonitor,
// a PodMonitor, a PrometheusRule and the dashboard ConfigMap that the test bed's apiserver
// accepts (server-side dry run, strict field validation) once prometheus-operator's CRDs are
// installed (fetched from the Go module proxy, testbed/scripts/prometheus-operator-crds.sh).
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeRequestError, kubeRequest } from '@longshore/kube';
import { tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensurePrometheusOperatorCrds } from '../../testbed/src/prometheus-operator-crds.ts';
import {
  CONTAINER_AGENT_VALUES,
  find,
  lint,
  type Manifest,
  PROVISIONER_VALUES,
  template,
  templateRaw,
  type ValuesInput,
} from './chart-render.ts';
import {
  ALERTS_FILE,
  ALERTS_UNIT_TESTS,
  alertRules,
  DASHBOARD_FILE,
  dashboardQueries,
  MonitoringFileError,
  promtool,
  queriesAsRuleFile,
  ruleFileOf,
} from './monitoring.ts';

const NAME = 'ls-longshore';
const SERVICES = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'];
const ALERTS_DOC = join(import.meta.dirname, '..', '..', 'docs', 'alerts.md');
const RUNBOOKS = 'https://github.com/longshore/longshore/blob/main/docs/alerts.md#';

/** Every metrics.* value on, over both seeds' examples (so the vm-scaler renders) and the simulator. */
const MONITORING: ValuesInput = {
  files: [CONTAINER_AGENT_VALUES, PROVISIONER_VALUES],
  values: {
    'runner-api-sim': { enabled: true },
    metrics: {
      serviceMonitor: { enabled: true, interval: '15s', scrapeTimeout: '5s', labels: { release: 'kps' } },
      podMonitor: { enabled: true, interval: '20s', labels: { release: 'kps' } },
      prometheusRule: { enabled: true, labels: { release: 'kps', role: 'alert-rules' } },
      grafanaDashboard: { enabled: true, annotations: { grafana_folder: 'CI' } },
    },
  },
};
const MONITORING_KINDS = ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'longshore-monitoring-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `promtool test rules` with the unit tests pointed at `ruleFile` (they name the chart's file). */
async function unitTestRules(ruleFile: string): Promise<{ code: number; output: string }> {
  const tests = parse(readFileSync(ALERTS_UNIT_TESTS, 'utf8')) as { rule_files: string[] };
  tests.rule_files = [ruleFile];
  const file = join(dir, `unit-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, stringify(tests));
  return promtool(['test', 'rules', file]);
}

/** GitHub's anchors for the headings of a Markdown file. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#+\s+(.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('the alert rules (files/alerts.yaml)', () => {
  const text = readFileSync(ALERTS_FILE, 'utf8');
  const file = parse(text) as {
    groups: {
      rules: { alert?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
    }[];
  };

  it('pass promtool check rules', async () => {
    const r = await promtool(['check', 'rules', ALERTS_FILE]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${alertRules(text).length} rules found`);
  });

  it('pass their unit tests (promtool test rules): each fires on its series and not on the others', async () => {
    const r = await promtool(['test', 'rules', ALERTS_UNIT_TESTS]);
    expect(r.code, r.output).toBe(0);
  });

  it('each have a unit test that fires them and one where they must not fire yet', () => {
    const tests = parse(readFileSync(ALERTS_UNIT_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alertRules(text)) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} is quiet in a test`,
      ).toBe(true);
    }
  });

  it('each have a severity, a summary, a description and a runbook in docs/alerts.md', () => {
    const have = anchors(readFileSync(ALERTS_DOC, 'utf8'));
    const rules = file.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    expect(rules.map((r) => r.alert)).toEqual(alertRules(text).map((r) => r.alert));
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      const url = r.annotations?.runbook_url ?? '';
      expect(url.startsWith(RUNBOOKS), `${r.alert}: ${url}`).toBe(true);
      expect(url.slice(RUNBOOKS.length)).toBe(r.alert!.toLowerCase());
      expect(have.has(url.slice(RUNBOOKS.length)), `docs/alerts.md has a heading for ${r.alert}`).toBe(true);
    }
  });

  it('alertRules reads a rule file and a PrometheusRule, and refuses a file without groups', () => {
    const rules = alertRules(text);
    expect(rules.map((r) => r.alert)).toEqual([
      'LongshoreClassDisabled',
      'LongshoreTokenRefused',
      'LongshoreClaimsWithoutPods',
      'LongshoreTasksNotStarting',
      'LongshoreTasksSlowToStart',
      'LongshoreVmPoolBelowDesired',
      'LongshoreServiceDown',
      'LongshoreGcSweepsFailing',
      'LongshoreGcFallingBehind',
      'LongshoreRunnerApiErrors',
    ]);
    expect(rules.find((r) => r.alert === 'LongshoreServiceDown')).toEqual({
      alert: 'LongshoreServiceDown',
      expr: 'up{job=~"longshore-.+"} == 0',
      for: '5m',
    });
    const asObject = stringify({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      spec: parse(text),
    });
    expect(alertRules(asObject)).toEqual(rules);
    expect(() => alertRules('rules: []')).toThrow(MonitoringFileError);
  });
});

describe('the chart renders the monitoring objects only when asked', () => {
  it('the default values render none of them, and no dashboard ConfigMap', async () => {
    const objects = await template({});
    expect(objects.filter((o) => MONITORING_KINDS.includes(o.kind))).toEqual([]);
    expect(objects.find((o) => o.metadata.name === `${NAME}-dashboard`)).toBeUndefined();
  });

  it('helm lint --strict passes with every metrics value on, and a bad interval is refused by the schema', async () => {
    const l = await lint(MONITORING);
    expect(l.stdout + l.stderr).toContain('0 chart(s) failed');
    const bad = await templateRaw({
      values: { metrics: { serviceMonitor: { enabled: true, interval: '30 seconds' } } },
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('/metrics/serviceMonitor/interval');
  });

  it("every container's and Service's one port is named `metrics`, and the monitors scrape it", async () => {
    const objects = await template(MONITORING);
    for (const svc of SERVICES) {
      const d = find(objects, 'Deployment', `${NAME}-${svc}`) as unknown as {
        spec: { template: { spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } };
      };
      expect(d.spec.template.spec.containers[0]!.ports).toEqual([{ name: 'metrics', containerPort: 8080 }]);
      const s = find(objects, 'Service', `${NAME}-${svc}`) as unknown as {
        spec: { ports: { name: string }[] };
      };
      expect(s.spec.ports.map((p) => p.name)).toEqual(['metrics']);
    }
    const sm = find(objects, 'ServiceMonitor', NAME) as Manifest & { spec: Record<string, unknown> };
    expect(sm.spec.endpoints).toEqual([
      {
        port: 'metrics',
        path: '/metrics',
        interval: '15s',
        scrapeTimeout: '5s',
        honorLabels: true,
        relabelings: [
          {
            sourceLabels: ['__meta_kubernetes_service_label_app_kubernetes_io_component'],
            targetLabel: 'job',
            replacement: 'longshore-$1',
          },
        ],
      },
    ]);
    const pm = find(objects, 'PodMonitor', NAME) as Manifest & { spec: Record<string, unknown> };
    expect(pm.spec.podMetricsEndpoints).toEqual([
      {
        port: 'metrics',
        path: '/metrics',
        interval: '20s',
        relabelings: [
          {
            sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'],
            targetLabel: 'job',
            replacement: 'longshore-$1',
          },
        ],
      },
    ]);
    for (const m of [sm, pm]) {
      expect(m.metadata.labels).toMatchObject({ release: 'kps', 'app.kubernetes.io/instance': 'ls' });
      expect(m.spec.namespaceSelector).toEqual({ matchNames: ['longshore'] });
    }
  });

  it("the monitors select the five services' Services and pods, and nothing else of the release", async () => {
    const objects = await template(MONITORING);
    const sm = find(objects, 'ServiceMonitor', NAME) as Manifest & { spec: { selector: Selector } };
    const pm = find(objects, 'PodMonitor', NAME) as Manifest & { spec: { selector: Selector } };
    const services = objects.filter((o) => o.kind === 'Service');
    const selected = services.filter((s) => selects(sm.spec.selector, s.metadata.labels ?? {}));
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(SERVICES.map((s) => `${NAME}-${s}`).sort());
    expect(services.map((s) => s.metadata.name)).toContain(`${NAME}-runner-api-sim`);
    const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    const podsSelected = workloads.filter((w) =>
      selects(
        pm.spec.selector,
        (w.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels,
      ),
    );
    expect(podsSelected.map((w) => w.metadata.name).sort()).toEqual(
      SERVICES.map((s) => `${NAME}-${s}`).sort(),
    );
  });

  it('the PrometheusRule holds the rule file as written, and it passes promtool check rules and the unit tests', async () => {
    const objects = await template(MONITORING);
    const rule = find(objects, 'PrometheusRule', NAME);
    expect(rule.metadata.labels).toMatchObject({ release: 'kps', role: 'alert-rules' });
    expect(rule.spec).toEqual(parse(readFileSync(ALERTS_FILE, 'utf8')));
    const rendered = join(dir, 'rendered-rules.yaml');
    await writeFile(rendered, ruleFileOf(rule));
    const check = await promtool(['check', 'rules', rendered]);
    expect(check.code, check.output).toBe(0);
    expect(check.output).toContain('SUCCESS: 10 rules found');
    const unit = await unitTestRules(rendered);
    expect(unit.code, unit.output).toBe(0);
    expect(alertRules(stringify(rule))).toEqual(alertRules(readFileSync(ALERTS_FILE, 'utf8')));
  });

  it("the dashboard ConfigMap carries files/dashboard.json unchanged, with the sidecar's label", async () => {
    const objects = await template(MONITORING);
    const cm = find(objects, 'ConfigMap', `${NAME}-dashboard`) as Manifest & { data: Record<string, string> };
    expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'CI' });
    expect(JSON.parse(cm.data['longshore.json']!)).toEqual(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')));
    const elsewhere = await template({
      values: {
        metrics: {
          grafanaDashboard: { enabled: true, namespace: 'grafana', labels: { grafana_dashboard: 'ci' } },
        },
      },
    });
    const moved = find(elsewhere, 'ConfigMap', `${NAME}-dashboard`);
    expect(moved.metadata.namespace).toBe('grafana');
    expect(moved.metadata.labels?.grafana_dashboard).toBe('ci');
  });
});

describe('the dashboard (files/dashboard.json)', () => {
  const model = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
    schemaVersion: number;
    templating: { list: { name: string; type: string; query: unknown }[] };
    panels: { type: string; datasource?: { uid: string }; panels?: unknown[] }[];
  };

  it('has a Prometheus data source variable that every panel uses, and namespace and resource_class variables', () => {
    expect(model.schemaVersion).toBe(39);
    const vars = Object.fromEntries(model.templating.list.map((v) => [v.name, v]));
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.resource_class?.type).toBe('query');
    expect(vars.namespace?.type).toBe('query');
    for (const p of model.panels.filter((x) => x.type !== 'row')) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable, not a JS template
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('every query parses (promtool check rules, as recording rules)', async () => {
    const queries = dashboardQueries(model);
    expect(queries.length).toBeGreaterThan(30);
    const file = join(dir, 'dashboard-rules.yaml');
    await writeFile(file, queriesAsRuleFile(queries));
    const r = await promtool(['check', 'rules', file]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('shows throughput, stage latencies, in flight against the caps, retries, VM pools and the RED metrics', () => {
    const all = dashboardQueries(model)
      .map((q) => q.expr)
      .join('\n');
    for (const metric of [
      'longshore_scheduler_tasks_ended_total',
      'longshore_claimer_task_stage_seconds_bucket',
      'longshore_scheduler_task_stage_seconds_bucket',
      'longshore_claimer_in_flight',
      'longshore_claimer_max_in_flight',
      'longshore_claimer_class_in_flight',
      'longshore_claimer_class_max_in_flight',
      'longshore_scheduler_task_retries_total',
      'longshore_vm_scaler_desired_vms',
      'longshore_vm_scaler_ready_vms',
      'runner_api_requests_total',
      'runner_api_request_duration_seconds_bucket',
      '_kube_requests_total',
      '_kube_request_duration_seconds_bucket',
      '_bus_published_total',
      '_bus_handled_total',
      '_ledger_operations_total',
      'longshore_gc_sweeps_total',
    ]) {
      expect(all, metric).toContain(metric);
    }
    expect(all).toContain('histogram_quantile(0.5, sum by (le, stage)');
    expect(all).toContain('histogram_quantile(0.99, sum by (le, stage)');
  });

  it('dashboardQueries replaces the variables, and refuses one it has no value for', () => {
    const panel = (expr: string) => ({
      panels: [{ type: 'row', title: 'r', panels: [{ title: 'p', targets: [{ refId: 'A', expr }] }] }],
    });
    expect(
      dashboardQueries(panel('rate(x{resource_class=~"$resource_class"}[$__rate_interval])'), {
        resource_class: 'acme/small',
      }),
    ).toEqual([{ panel: 'p / A', expr: 'rate(x{resource_class=~"acme/small"}[1m])' }]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${var} form, not a JS template
    expect(dashboardQueries(panel('sum(x{namespace=~"${namespace}"})'))[0]!.expr).toBe(
      'sum(x{namespace=~".*"})',
    );
    expect(() => dashboardQueries(panel('x{a="$nope"}'))).toThrow('no value for the variable $nope');
  });
});

describe("the test bed's apiserver accepts the monitoring objects (prometheus-operator CRDs installed)", () => {
  const { kc, core } = testKube();
  let ns: Awaited<ReturnType<typeof tempNamespace>>;

  beforeAll(async () => {
    await ensurePrometheusOperatorCrds(kc);
    ns = await tempNamespace(core, 'monitoring');
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  it('ServiceMonitor, PodMonitor, PrometheusRule and the dashboard ConfigMap pass a strict server-side dry run', async () => {
    const objects = await template(MONITORING, { namespace: ns.name });
    const wanted = objects.filter(
      (o) => MONITORING_KINDS.includes(o.kind) || o.metadata.name === `${NAME}-dashboard`,
    );
    expect(wanted.map((o) => o.kind).sort()).toEqual(['ConfigMap', ...MONITORING_KINDS].sort());
    const failures: string[] = [];
    for (const o of wanted) {
      const why = await strictDryRun(kc, o);
      if (why) failures.push(why);
    }
    expect(failures).toEqual([]);
  });

  it('is a real check: a misspelt field and a bad rule are refused', async () => {
    const objects = await template(MONITORING, { namespace: ns.name });
    const sm = structuredClone(find(objects, 'ServiceMonitor', NAME)) as Manifest & {
      spec: { endpoints: Record<string, unknown>[] };
    };
    sm.spec.endpoints[0]!.intervall = '30s';
    expect(await strictDryRun(kc, sm)).toContain('unknown field \\"spec.endpoints[0].intervall\\"');
    const rule = structuredClone(find(objects, 'PrometheusRule', NAME)) as Manifest & {
      spec: { groups: { rules: Record<string, unknown>[] }[] };
    };
    rule.spec.groups[0]!.rules[0]!.for = 'ten minutes';
    expect(await strictDryRun(kc, rule)).toContain('spec.groups[0].rules[0].for: Invalid value');
  });
});

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether a label selector (matchLabels, In and NotIn expressions) selects these labels. */
function selects(sel: Selector, labels: Record<string, string>): boolean {
  const byLabel = Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (sel.matchExpressions ?? []).every((e) => {
    if (e.operator === 'In') return labels[e.key] !== undefined && (e.values ?? []).includes(labels[e.key]!);
    if (e.operator === 'NotIn') return !(e.values ?? []).includes(labels[e.key] ?? '');
    throw new Error(`selector operator ${e.operator} not understood here`);
  });
  return byLabel && byExpr;
}

const PLURALS: Record<string, string> = {
  ServiceMonitor: '/apis/monitoring.coreos.com/v1/namespaces/NS/servicemonitors',
  PodMonitor: '/apis/monitoring.coreos.com/v1/namespaces/NS/podmonitors',
  PrometheusRule: '/apis/monitoring.coreos.com/v1/namespaces/NS/prometheusrules',
  ConfigMap: '/api/v1/namespaces/NS/configmaps',
};

/**
 * A server-side dry run with strict field validation, the object sent as written (client-
 * node's typed clients would drop unknown fields before the apiserver saw them). Returns
 * undefined when accepted, else the object's name and the apiserver's answer.
 */
async function strictDryRun(kc: KubeConfig, o: Manifest): Promise<string | undefined> {
  const path = PLURALS[o.kind]?.replace('NS', o.metadata.namespace ?? 'default');
  if (!path) throw new Error(`no path known for ${o.kind}`);
  try {
    await kubeRequest(kc, {
      method: 'POST',
      path,
      query: { dryRun: 'All', fieldValidation: 'Strict' },
      body: o,
    });
    return undefined;
  } catch (err) {
    if (!(err instanceof KubeRequestError)) throw err;
    return `${o.kind}/${o.metadata.name}: ${err.body}`;
  }
}
