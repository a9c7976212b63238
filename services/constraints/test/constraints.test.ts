// The constraint checker end to end: real claimer, scheduler and constraints processes
// against the test bed and the simulator. The test adds its own kwok node with a label no
// other node has, so removing and restoring "the ssd node" disturbs nothing shared.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Node } from '@kubernetes/client-node';
import type { BusKv } from '@longshore/bus';
import { CONSTRAINTS_KV_BUCKET, ConstraintStatus, constraintStatusKey } from '@longshore/contracts';
import { isNotFound } from '@longshore/kube';
import { Fleet } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

let fleet: Fleet | undefined;
const ownNodes = new Set<string>();
afterEach(async () => {
  for (const name of ownNodes) await fleet?.kube.core.deleteNode({ name }).catch(() => undefined);
  ownNodes.clear();
  await fleet?.stop();
  fleet = undefined;
});

function ssdNode(name: string, label: string): V1Node {
  const resources = { cpu: '16', memory: '64Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        type: 'kwok',
        disktype: label,
      },
    },
    spec: { taints: [] },
    status: { allocatable: resources, capacity: resources },
  };
}

async function addNode(f: Fleet, node: V1Node): Promise<void> {
  const name = node.metadata!.name!;
  ownNodes.add(name);
  await f.kube.core.createNode({ body: node });
  await f.waitFor(`node ${name} to be Ready`, async () => {
    const n = await f.kube.core.readNode({ name });
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') || undefined;
  });
}

async function removeNode(f: Fleet, name: string): Promise<void> {
  await f.kube.core.deleteNode({ name });
  await f.waitFor(`node ${name} to be gone`, async () => {
    try {
      await f.kube.core.readNode({ name });
      return undefined;
    } catch (err) {
      if (isNotFound(err)) return true;
      throw err;
    }
  });
}

function setChecker(f: Fleet, checker: Record<string, unknown>): void {
  const cfg = parse(readFileSync(f.configFile, 'utf8'));
  cfg.agent.constraintChecker = { ...cfg.agent.constraintChecker, ...checker };
  writeFileSync(f.configFile, stringify(cfg));
}

describe('constraints', () => {
  it('disables only the class whose nodes are gone, keeps counting across a restart, and enables it again on the node watch', async () => {
    const id = randomBytes(3).toString('hex');
    const label = `ssd-${id}`;
    const nodeName = `kwok-cc-${id}`;
    const SSD = 'e2e/ssd';
    const PLAIN = 'e2e/plain';
    fleet = await Fleet.start({
      classes: {
        [SSD]: { token: 'tok-ssd-0000001', spec: { nodeSelector: { disktype: label } } },
        [PLAIN]: { token: 'tok-plain-000001' },
      },
      agent: { constraintChecker: { enable: true, interval: '1s', threshold: 3, debounce: '300ms' } },
    });
    const f = fleet;
    await addNode(f, ssdNode(nodeName, label));
    const kv: BusKv<typeof ConstraintStatus> = await f.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
    const status = async (rc: string) => (await kv.get(constraintStatusKey(rc)))?.value;

    f.spawn('scheduler');
    f.spawn('claimer');
    f.spawn('constraints');
    await f.waitFor('both classes checked and enabled', async () => {
      const [a, b] = [await status(SSD), await status(PLAIN)];
      return a?.enabled && b?.enabled && a.consecutive_failures === 0 ? true : undefined;
    });
    // While enabled, ssd tasks are claimed and run on the test's node.
    const first = await f.admin.enqueueMany({ resource_class: SSD, image: 'fate.test/succeed:200ms' }, 2);
    expect((await f.waitForTasksEnded(first)).map((t) => t.state)).toEqual(['completed', 'completed']);

    // The only matching node goes: three failed checks disable the ssd class only.
    await removeNode(f, nodeName);
    const disabled = await f.waitFor('the ssd class to be disabled', async () => {
      const s = await status(SSD);
      return s && !s.enabled ? s : undefined;
    });
    expect(disabled.consecutive_failures).toBe(3);
    expect(disabled.reason).toMatch(
      new RegExp(
        `^no node matches nodeSelector disktype=${label} \\(\\d+ nodes checked: 0 have disktype=${label}\\)$`,
      ),
    );
    const ssdStory = f.events$('constraints.status').filter((e) => e.payload.resource_class === SSD);
    const failures = ssdStory.map((e) => e.payload.consecutive_failures as number).filter((n) => n > 0);
    expect(failures.slice(0, 3)).toEqual([1, 2, 3]);
    expect(ssdStory.find((e) => e.payload.consecutive_failures === 2)?.payload.enabled).toBe(true);
    expect((await status(PLAIN))?.enabled).toBe(true);

    // The plain class keeps claiming; ssd tasks wait.
    const ssdIds = await f.admin.enqueueMany({ resource_class: SSD, image: 'fate.test/succeed:200ms' }, 3);
    const plainIds = await f.admin.enqueueMany(
      { resource_class: PLAIN, image: 'fate.test/succeed:200ms' },
      5,
    );
    expect((await f.waitForTasksEnded(plainIds)).map((t) => t.state)).toEqual(
      plainIds.map(() => 'completed'),
    );
    await sleep(2_000);
    expect((await Promise.all(ssdIds.map((t) => f.admin.task(t)))).map((t) => t.state)).toEqual(
      ssdIds.map(() => 'queued'),
    );

    // Killed mid-work and restarted (now with a 10 minute interval): it reads its counts
    // back from the bucket and goes on from there.
    await f.kill('constraints');
    const before = (await status(SSD))!;
    expect(before.enabled).toBe(false);
    setChecker(f, { interval: '10m' });
    const seen = f.events$('constraints.status').length;
    f.spawn('constraints');
    const after = await f.waitFor('the restarted checker to check', () =>
      f
        .events$('constraints.status')
        .slice(seen)
        .find((e) => e.payload.resource_class === SSD),
    );
    expect(after.payload).toMatchObject({
      enabled: false,
      consecutive_failures: before.consecutive_failures + 1,
    });

    // The node comes back: the node watch re-checks within seconds, far inside 10 minutes.
    const back = Date.now();
    await addNode(f, ssdNode(nodeName, label));
    const enabled = await f.waitFor(
      'the ssd class to be enabled again',
      async () => {
        const s = await status(SSD);
        return s?.enabled ? s : undefined;
      },
      30_000,
    );
    expect(enabled).toMatchObject({ consecutive_failures: 0, reason: '' });
    expect(Date.now() - back).toBeLessThan(30_000);
    expect((await f.waitForTasksEnded(ssdIds)).map((t) => t.state)).toEqual(ssdIds.map(() => 'completed'));
  });
});
