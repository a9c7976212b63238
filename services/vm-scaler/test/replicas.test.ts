// Two vm-scaler processes against the test bed and the simulator: only the holder of the
// `vm-scaler` lease polls and sizes the pool, the other stands by and is ready too; the
// holder is killed with -9, the other takes over within the lease's TTL and a try, and the
// pool follows the queue again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, readTestbedEnv, type ServiceProcess, spawnService } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { API_TOKEN, ScalerWorld, tokenOf } from './support.ts';

let world: ScalerWorld | undefined;
const procs: ServiceProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'vm-scaler-replicas-'));

afterEach(async () => {
  await Promise.allSettled(procs.splice(0).map((p) => p.stop(5_000)));
  await world?.teardown();
  world = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const cycles = (p: ServiceProcess) => p.records().filter((r) => r.msg === 'worker loop scaler').length;

describe('vm-scaler with two replicas', () => {
  it('one scales, the other stands by ready; after kill -9 of the holder the other takes over and the pool follows the queue', async () => {
    const rc = { name: 'acme/replicas', min: 0, max: 10 };
    world = await new ScalerWorld().setup('vms-replicas', [rc]);
    const w = world;
    const env = readTestbedEnv();
    const configFile = join(dir, 'values.yaml');
    writeFileSync(
      configFile,
      `${w.configYaml([rc])}\nhttp: {host: 127.0.0.1, port: 0}\nbus: {url: "${env.NATS_URL}", prefix: ${w.prefix}}\n`,
    );
    const spawn = (label: string) => {
      const p = spawnService('vm-scaler', {
        configFile,
        kubeconfig: env.KUBECONFIG,
        label,
        env: { LONGSHORE_INSTANCE: label },
      });
      procs.push(p);
      return p;
    };
    const a = spawn('vm-scaler-a');
    const b = spawn('vm-scaler-b');
    const tail = () => `${a.tail(10)}\n${b.tail(10)}`;

    const holder = await eventually(() => {
      const h = [a, b].find((p) => p.logged('lease taken'));
      if (!h) throw new Error(`no holder yet\n${tail()}`);
      return h;
    }, 30_000);
    const standby = holder === a ? b : a;
    await eventually(async () => {
      expect([await holder.status('/readyz'), await standby.status('/readyz')], tail()).toEqual([200, 200]);
    }, 30_000);
    await w.enqueue(rc.name, 3);
    await eventually(async () => expect(await w.replicas(rc.name)).toBe(3), 30_000);
    expect(cycles(holder)).toBeGreaterThan(0);
    expect(cycles(standby)).toBe(0);
    expect(standby.logged('VirtualMachinePool applied')).toBe(false);
    expect(standby.logged('lease held by another replica; standing by')).toBe(true);

    // The holder dies without a word: the standby takes over and scales from the pool as it is.
    holder.child.kill('SIGKILL');
    await holder.exited;
    await eventually(() => expect(cycles(standby), tail()).toBeGreaterThan(0), 30_000);
    expect(await w.replicas(rc.name)).toBe(3);
    await w.enqueue(rc.name, 2);
    await eventually(async () => expect(await w.replicas(rc.name)).toBe(5), 30_000);
    await eventually(async () => expect(await standby.status('/readyz')).toBe(200), 30_000);

    const logs = [...a.lines, ...b.lines].join('\n');
    for (const secret of [API_TOKEN, tokenOf(rc.name)]) expect(logs.includes(secret)).toBe(false);
  });
});
