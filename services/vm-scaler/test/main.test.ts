// main.ts as a real process: a bad configuration stops it at start with a message naming
// the key (exit code 2); a good one runs until SIGTERM, serving /livez and /readyz.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, ScalerWorld, tokenOf } from './support.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];
let world: ScalerWorld | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  await world?.teardown();
  world = undefined;
});

interface Run {
  child: ChildProcess;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
}

async function runMain(configYaml: string, env: Record<string, string> = {}): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'vm-scaler-main-'));
  dirs.push(dir);
  const file = join(dir, 'values.yaml');
  await writeFile(file, configYaml);
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, LONGSHORE_CONFIG: file, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, lines, stderr: () => err, exited };
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
    const fatal = run.lines().find((l) => l.level === 60);
    expect(fatal?.msg).toContain('invalid config');
    expect(fatal?.msg).toContain(expected);
    expect(run.stderr()).not.toContain('runner-token-123456');
    expect(run.stderr()).not.toContain('api-token-123456');
  });

  it('runs against the test bed until SIGTERM, ready once it has polled', async () => {
    const rc = { name: 'acme/main', min: 1, max: 2 };
    world = await new ScalerWorld().setup('vms-main', [rc]);
    const yaml = `${world.configYaml([rc])}\nhttp: {host: 127.0.0.1, port: 0}\nbus: {prefix: ${world.prefix}}\n`;
    const run = await runMain(yaml);
    const url = await eventually(() => {
      const listening = run.lines().find((l) => l.msg === 'health server listening');
      if (!listening) throw new Error(`not listening yet: ${run.stderr()}`);
      return listening.url as string;
    }, 30_000);
    expect((await fetch(`${url}/livez`)).status).toBe(200);
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 30_000);
    expect(run.lines().some((l) => l.msg === 'worker loop scaler' && l.loop_name === 'scaler')).toBe(true);
    expect(await world.replicas(rc.name)).toBe(1);

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.lines().at(-1)).toMatchObject({ msg: 'shutdown complete', failed: [], timedOut: false });
    expect(run.stderr()).not.toContain(tokenOf(rc.name));
  });
});
