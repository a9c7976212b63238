// Every values file we ship or test with passes the chart's generated values.schema.json
// (helm lint --strict validates against it): the chart's defaults, each example under
// deploy/helm/examples (the seeds' values and CircleCI's all-keys file), and each alone with
// the simulator and a clustered NATS on. A file added to examples/ is covered by being there.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, lint, templateRaw } from './chart-render.ts';

const files = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe("values files against the chart's generated schema", () => {
  it('there are example files to check', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'container-agent-values.yaml',
        'provisioner-values.yaml',
        'container-agent-all-keys.yaml',
      ]),
    );
  });

  it.each(files)('%s passes helm lint --strict', async (file) => {
    const l = await lint({ files: [join(EXAMPLES, file)] });
    expect(l.stdout + l.stderr).toContain('0 chart(s) failed');
    expect(l.code).toBe(0);
  });

  it.each(files)('%s renders with the simulator and a clustered NATS', async (file) => {
    const t = await templateRaw({
      files: [join(EXAMPLES, file)],
      values: { 'runner-api-sim': { enabled: true }, nats: { cluster: { enabled: true, replicas: 5 } } },
    });
    expect(t.stderr).not.toContain("don't meet the specifications of the schema");
    expect(t.code, t.stderr).toBe(0);
  });

  it('null counts as unset where the config takes it so, and a wrong type is still refused', async () => {
    const nulls = await templateRaw({
      values: {
        agent: { gc: { enabled: null, threshold: null }, kubeGCThreshold: '' },
        provisioner: {
          circleToken: 'x',
          resourceClass: { name: 'a/b', token: 't', spec: null, idleTimeout: '' },
        },
      },
    });
    expect(nulls.code, nulls.stderr).toBe(0);
    const wrong = await templateRaw({ values: { agent: { gc: { threshold: 5 } } } });
    expect(wrong.stderr).toContain("at '/agent/gc/threshold': got number, want null or string");
  });
});
