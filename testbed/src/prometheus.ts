// A real Prometheus server (Debian's `prometheus` package, installed by scripts/ensure-deps.sh)
// on loopback, scraping the targets it is given every second, with rule files loaded: the
// integration test of the metrics, the dashboard's queries and the alerts runs against it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, stopChild } from './processes.ts';
import { waitFor } from './wait.ts';

export interface PrometheusOptions {
  /** Scrape jobs: job name -> `host:port` targets (path /metrics). */
  jobs: Record<string, readonly string[]>;
  /** Rule files (Prometheus rule groups, YAML text) to load; evaluated every second. */
  ruleFiles?: readonly string[];
  /** Default `prometheus` on PATH (or /usr/bin). */
  binary?: string;
}

/** One sample of an instant vector: its labels and value. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export class PromQueryError extends Error {
  override readonly name = 'PromQueryError';
}

export class PrometheusServer {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly lines: string[] = [];

  private constructor(url: string, child: ChildProcess, dir: string) {
    this.url = url;
    this.#child = child;
    this.#dir = dir;
    for (const s of [child.stdout, child.stderr])
      s?.on('data', (b: Buffer) => this.lines.push(...b.toString().split('\n').filter(Boolean)));
  }

  static async start(o: PrometheusOptions): Promise<PrometheusServer> {
    const dir = mkdtempSync(join(tmpdir(), 'longshore-prometheus-'));
    const rules = (o.ruleFiles ?? []).map((text, i) => {
      const file = join(dir, `rules-${i}.yaml`);
      writeFileSync(file, text);
      return file;
    });
    writeFileSync(
      join(dir, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
        rule_files: rules,
        scrape_configs: Object.entries(o.jobs).map(([job, targets]) => ({
          job_name: job,
          static_configs: [{ targets: [...targets] }],
        })),
      }),
    );
    const port = await freePort();
    const child = spawn(
      o.binary ?? 'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/bin` },
      },
    );
    const p = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`prometheus exited (${code}): ${p.lines.slice(-5).join(' | ')}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      waitFor(
        'prometheus ready',
        async () => (await fetch(`${p.url}/-/ready`).catch(() => undefined))?.ok === true,
        { timeoutMs: 60_000 },
      ),
    ]);
    return p;
  }

  /** An instant query; a query Prometheus cannot parse or run is a PromQueryError with its message. */
  async query(expr: string): Promise<PromSample[]> {
    const res = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new PromQueryError(`${expr}: ${body.error ?? res.status}`);
    if (body.data?.resultType === 'scalar') {
      const v = body.data.result as unknown as [number, string];
      return [{ metric: {}, value: Number(v[1]) }];
    }
    return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The value of a query that yields one sample (0 when it yields none). */
  async value(expr: string): Promise<number> {
    const r = await this.query(expr);
    if (r.length > 1) throw new PromQueryError(`${expr}: ${r.length} samples, expected one`);
    return r[0]?.value ?? 0;
  }

  /** Every metric family Prometheus has scraped: name -> type (counter, gauge, histogram, ...). */
  async metadata(): Promise<Record<string, string>> {
    const res = await fetch(`${this.url}/api/v1/metadata`);
    const body = (await res.json()) as { data: Record<string, { type: string }[]> };
    return Object.fromEntries(Object.entries(body.data).map(([name, m]) => [name, m[0]?.type ?? 'unknown']));
  }

  /** Health of every scrape target, by job. */
  async targets(): Promise<{ job: string; health: string; lastError: string }[]> {
    const res = await fetch(`${this.url}/api/v1/targets`);
    const body = (await res.json()) as {
      data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
    };
    return body.data.activeTargets.map((t) => ({
      job: t.labels.job,
      health: t.health,
      lastError: t.lastError,
    }));
  }

  async stop(): Promise<void> {
    await stopChild(this.#child, 5_000);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
