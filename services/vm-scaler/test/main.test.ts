// main.ts as a real process: a bad configuration stops it at start with a message naming
// the key (exit code 2); a good one runs until SIGTERM, serving /livez and /readyz.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, readTestbedEnv, type ServiceProcess, spawnService } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ScalerWorld, tokenOf } from './support.ts';

const procs: ServiceProcess[] = [];
const dirs: string[] = [];
let world: ScalerWorld | undefined;

afterEach(async () => {
  await Promise.allSettled(procs.splice(0).map((p) => p.stop(2_000)));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  await world?.teardown();
  world = undefined;
});

/**
 * Runs main.ts with this config against the test bed: its kubeconfig, NATS and Redis. Some
 * bad configurations (a VM spec the pool cannot take) are found only when the scaler
 * starts, after the apiserver and the lease answer.
 */
async function runMain(configYaml: string): Promise<ServiceProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'vm-scaler-main-'));
  dirs.push(dir);
  const configFile = join(dir, 'values.yaml');
  await writeFile(configFile, configYaml);
  const { KUBECONFIG, NATS_URL, REDIS_URL } = readTestbedEnv();
  const p = spawnService('vm-scaler', { configFile, kubeconfig: KUBECONFIG, env: { NATS_URL, REDIS_URL } });
  procs.push(p);
  return p;
}

describe('vm-scaler main', () => {
  it.each([
    [
      'a missing runner token',
      'provisioner:\n  circleToken: "api-token-123456"\n  resourceClass: {name: my-org/my-runner}\n',
      'provisioner.resourceClass.token: required (or set provisioner.existingSecret)',
    ],
    [
      'a missing resource class name',
      'provisioner:\n  circleToken: "api-token-123456"\n  resourceClass: {token: "runner-token-123456"}\n',
      'provisioner.resourceClass.name: Invalid input: expected string, received undefined',
    ],
    ['malformed YAML', 'provisioner:\n  resourceClass: [oops\n', 'YAML syntax error at line'],
    ['no provisioner block', 'agent: {}\n', 'provisioner: required: the vm-scaler provisions VMs'],
    [
      "a VM spec with the user's own cloud-init volume",
      'provisioner:\n  circleToken: "api-token-123456"\n  namespace: default\n  resourceClass:\n' +
        '    name: my-org/my-runner\n    token: "runner-token-123456"\n' +
        '    spec: {volumes: [{name: ci, cloudInitNoCloud: {userData: "#cloud-config"}}]}\n',
      'provisioner.resourceClass.spec.volumes[0]: has cloudInitNoCloud: remove it',
    ],
  ])('stops at start on %s, saying which key', async (_what, yaml, expected) => {
    const run = await runMain(yaml);
    expect(await run.exited).toBe(2);
    const fatal = run.records().find((l) => l.level === 60);
    expect(fatal?.msg).toContain('invalid config');
    expect(fatal?.msg).toContain(expected);
    expect(run.lines.join('\n')).not.toContain('runner-token-123456');
    expect(run.lines.join('\n')).not.toContain('api-token-123456');
  });

  it('runs against the test bed until SIGTERM, ready once it has polled', async () => {
    const rc = { name: 'acme/main', min: 1, max: 2 };
    world = await new ScalerWorld().setup('vms-main', [rc]);
    const yaml = `${world.configYaml([rc])}\nhttp: {host: 127.0.0.1, port: 0}\nbus: {prefix: ${world.prefix}}\n`;
    const run = await runMain(yaml);
    const url = await eventually(() => {
      if (run.healthUrl === undefined) throw new Error(`not listening yet:\n${run.tail()}`);
      return run.healthUrl;
    }, 30_000);
    expect((await fetch(`${url}/livez`)).status).toBe(200);
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 30_000);
    expect(run.records().some((l) => l.msg === 'worker loop scaler' && l.loop_name === 'scaler')).toBe(true);
    expect(await world.replicas(rc.name)).toBe(1);

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.records().at(-1)).toMatchObject({ msg: 'shutdown complete', failed: [], timedOut: false });
    expect(run.lines.join('\n')).not.toContain(tokenOf(rc.name));
  });
});
