// `longshore config check --cluster` against the test bed's apiserver: each class's task pod
// goes to the cluster of KUBECONFIG as a server-side dry run, as the scheduler sends it at
// start. A class with a misspelt field inside its spec is refused with the field named (exit
// 2); a file whose classes all pass exits 0; nothing is created; no token is printed.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTestbedEnv, tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const env = readTestbedEnv();
const { core } = testKube();
const dir = mkdtempSync(join(tmpdir(), 'longshore-cfg-cluster-'));
let ns: Awaited<ReturnType<typeof tempNamespace>>;

beforeAll(async () => {
  ns = await tempNamespace(core, 'config-check');
});
afterAll(async () => {
  await ns?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function check(classes: Record<string, unknown>, args: string[] = ['--cluster']) {
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({ agent: { namespace: ns.name, resourceClasses: classes } }));
  try {
    const r = await run(process.execPath, [CLI, 'config', 'check', file, ...args], {
      env: { PATH: process.env.PATH, KUBECONFIG: env.KUBECONFIG },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const GOOD = {
  token: 'secret-good-token-1234',
  spec: {
    containers: [{ resources: { limits: { cpu: '500m' } } }],
    nodeSelector: { 'kubernetes.io/arch': 'amd64' },
  },
};

describe('longshore config check --cluster', () => {
  it('refuses a class whose task pod the apiserver refuses, naming the field; creates nothing', async () => {
    const r = await check({
      'acme/good': GOOD,
      'acme/typo': {
        token: 'secret-typo-token-1234',
        spec: { containers: [{ resourcez: { limits: { cpu: '1' } } }] },
      },
    });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`namespace ${ns.name}: each class's task pod as a server-side dry run`);
    expect(r.stdout).toContain('  acme/good: task pod accepted');
    expect(r.stderr).toContain(
      'agent.resourceClasses["acme/typo"]: task pod refused at spec.containers[0].resourcez: the apiserver refused the task pod: strict decoding error: unknown field "spec.containers[0].resourcez"',
    );
    expect(r.stdout + r.stderr).not.toMatch(/secret-(good|typo)-token/);
    const pods = await core.listNamespacedPod({ namespace: ns.name });
    expect(pods.items).toEqual([]);
  });

  it('exits 0 when every class passes, and does not ask the cluster without --cluster', async () => {
    const ok = await check({ 'acme/good': GOOD });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('acme/good: task pod accepted');
    const typo = {
      'acme/typo': { token: 'secret-typo-token-1234', spec: { containers: [{ resourcez: {} }] } },
    };
    const offline = await check(typo, []);
    expect(offline.code).toBe(0);
    expect(offline.stdout).not.toContain('dry run');
  });
});
