// The chart's monitoring files read as a program would: every PromQL expression of the
// Grafana dashboard (files/dashboard.json) and every alert of the rule file
// (files/alerts.yaml), for tests that check them with promtool here and run them against a
// real Prometheus elsewhere (e2e). And promtool itself, Debian's (scripts/ensure-deps.sh).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { CHART, type Manifest } from './chart-render.ts';

const run = promisify(execFile);

export const ALERTS_FILE = join(CHART, 'files', 'alerts.yaml');
export const DASHBOARD_FILE = join(CHART, 'files', 'dashboard.json');
export const ALERTS_UNIT_TESTS = join(import.meta.dirname, 'fixtures', 'alerts.test-rules.yaml');

/** A dashboard or rule file that is not what Grafana or Prometheus would load. */
export class MonitoringFileError extends Error {
  override readonly name = 'MonitoringFileError';
}

/** One query of a dashboard panel, its Grafana variables replaced. */
export interface DashboardQuery {
  /** The panel's title, and the query's refId: "Stage latency p50 / B". */
  panel: string;
  expr: string;
}

/**
 * What Grafana puts in place of the dashboard's variables when every value is chosen
 * ("All" is `.*`) and the rate interval is a minute: queries that run as they are against
 * any Prometheus holding Longshore's metrics.
 */
export const DEFAULT_DASHBOARD_VARS: Readonly<Record<string, string>> = {
  namespace: '.*',
  resource_class: '.*',
  __rate_interval: '1m',
  __interval: '1m',
  __range: '1h',
};

/**
 * Every PromQL expression of a Grafana dashboard (JSON text or model), panels inside rows
 * included, with `$var`, `${var}` and `[[var]]` replaced by `vars` over the defaults. A
 * variable with no value is an error, so a misspelt one cannot pass unnoticed. The
 * variables' own label_values() queries are Grafana's, not PromQL, and are not returned.
 */
export function dashboardQueries(
  dashboard: string | object,
  vars: Readonly<Record<string, string>> = {},
): DashboardQuery[] {
  const model = (typeof dashboard === 'string' ? JSON.parse(dashboard) : dashboard) as GrafanaDashboard;
  if (!Array.isArray(model.panels)) throw new MonitoringFileError('the dashboard has no panels');
  const values = { ...DEFAULT_DASHBOARD_VARS, ...vars };
  const out: DashboardQuery[] = [];
  const visit = (panels: readonly GrafanaPanel[]) => {
    for (const p of panels) {
      if (p.panels) visit(p.panels);
      for (const t of p.targets ?? []) {
        const panel = `${p.title ?? '(untitled)'} / ${t.refId ?? '?'}`;
        if (typeof t.expr !== 'string' || t.expr.trim() === '') {
          throw new MonitoringFileError(`${panel}: a target without a PromQL expression`);
        }
        out.push({ panel, expr: expand(t.expr, values, panel) });
      }
    }
  };
  visit(model.panels);
  return out;
}

interface GrafanaDashboard {
  panels?: GrafanaPanel[];
}

interface GrafanaPanel {
  title?: string;
  panels?: GrafanaPanel[];
  targets?: { refId?: string; expr?: unknown }[];
}

function expand(expr: string, values: Readonly<Record<string, string>>, where: string): string {
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (_m, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      const value = values[name];
      if (value === undefined) throw new MonitoringFileError(`${where}: no value for the variable $${name}`);
      return value;
    },
  );
}

/** One alerting rule: its name and PromQL expression. */
export interface AlertRule {
  alert: string;
  expr: string;
  /** Its `for`, if any ("10m"). */
  for?: string;
}

/**
 * The alerting rules of a Prometheus rule file (`groups:` at the top) or of a
 * PrometheusRule object (`spec.groups`), in file order; recording rules are skipped.
 */
export function alertRules(yamlText: string): AlertRule[] {
  const doc = parse(yamlText) as { groups?: unknown; spec?: { groups?: unknown } } | null;
  const groups = doc?.groups ?? doc?.spec?.groups;
  if (!Array.isArray(groups))
    throw new MonitoringFileError('no rule groups (neither `groups` nor `spec.groups`)');
  const out: AlertRule[] = [];
  for (const g of groups as { name?: string; rules?: unknown }[]) {
    if (!Array.isArray(g.rules)) throw new MonitoringFileError(`group ${g.name ?? '?'} has no rules`);
    for (const r of g.rules as { alert?: unknown; expr?: unknown; for?: unknown }[]) {
      if (r.alert === undefined) continue;
      if (typeof r.alert !== 'string' || typeof r.expr !== 'string') {
        throw new MonitoringFileError(`group ${g.name ?? '?'}: an alert without a name or an expression`);
      }
      out.push({
        alert: r.alert,
        expr: r.expr.trim(),
        ...(typeof r.for === 'string' ? { for: r.for } : {}),
      });
    }
  }
  return out;
}

/** The rule file a PrometheusRule object holds (its `spec`), as YAML text for promtool or Prometheus. */
export function ruleFileOf(prometheusRule: Manifest): string {
  const spec = prometheusRule.spec as { groups?: unknown } | undefined;
  if (prometheusRule.kind !== 'PrometheusRule' || !Array.isArray(spec?.groups)) {
    throw new MonitoringFileError(
      `${prometheusRule.kind}/${prometheusRule.metadata.name}: not a PrometheusRule with groups`,
    );
  }
  return stringify({ groups: spec.groups });
}

/**
 * The dashboard's queries as recording rules, one per query: `promtool check rules` then
 * parses every expression, with no Prometheus running.
 */
export function queriesAsRuleFile(queries: readonly DashboardQuery[]): string {
  return stringify({
    groups: [
      {
        name: 'dashboard',
        rules: queries.map((q, i) => ({ record: `longshore:dashboard:q${i}`, expr: q.expr })),
      },
    ],
  });
}

/** Debian's promtool (the prometheus package), on PATH or in /usr/bin. */
export function promtoolBinary(): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin']) {
    const p = join(dir, 'promtool');
    if (dir && existsSync(p)) return p;
  }
  throw new Error(
    'promtool not found on PATH: run scripts/ensure-deps.sh (installs Debian’s prometheus package)',
  );
}

/** What promtool printed, and its exit status (0 on success). */
export interface PromtoolResult {
  code: number;
  output: string;
}

export async function promtool(args: readonly string[], cwd?: string): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await run(promtoolBinary(), [...args], {
      ...(cwd ? { cwd } : {}),
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}
