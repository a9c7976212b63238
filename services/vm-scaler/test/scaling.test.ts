// The scaling loop end to end: the Runner API simulator's queue moves the pool's replicas
// in the test bed's apiserver, within a poll, clamped both ways, with no scale request
// when nothing changed, and each class on its own.
import type { ScalerDecision } from '@longshore/contracts';
import { eventually } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { API_TOKEN, ScalerWorld, tokenOf } from './support.ts';

let world: ScalerWorld;
afterEach(async () => {
  await world.teardown();
});

describe('vm-scaler against the simulator and the test bed', () => {
  it('moves the pool with the queue within a poll, keeping minReplicas warm and never passing maxReplicas', async () => {
    const rc = { name: 'acme/vms', min: 2, max: 5 };
    world = await new ScalerWorld().setup('vms-scale', [rc]);
    const scaler = await world.start(world.configYaml([rc]));
    expect(await world.replicas(rc.name)).toBe(2); // created at minReplicas

    // Idle: the pre-warmed pool stays at minReplicas.
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(2);

    // 3 queued + 1 running = 4.
    await world.enqueue(rc.name, 4);
    const claims = await world.claim(rc.name, 1);
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(4);

    // 9 queued + 1 running = 10, clamped to maxReplicas.
    await world.enqueue(rc.name, 6);
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(5);

    // Demand gone: back down to minReplicas, never below.
    for (const t of await world.admin.listTasks({ resource_class: rc.name, state: 'queued' }))
      await world.admin.cancel(t.id);
    await world.finish(claims);
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(2);

    // Every cycle logged seed 002's line.
    const lines = world.log.withMsg('worker loop scaler');
    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(
        expect.arrayContaining(['loop_name', 'unclaimed_tasks', 'running_tasks', 'desired_vms']),
      );
      expect(l.loop_name).toBe('scaler');
    }
    expect(lines.map((l) => l.desired_vms)).toEqual(expect.arrayContaining([2, 4, 5]));
    expect(lines).toContainEqual(
      expect.objectContaining({
        resource_class: rc.name,
        unclaimed_tasks: 3,
        running_tasks: 1,
        desired_vms: 4,
      }),
    );
    expect(scaler.ready()).toBe(true);
  });

  it('sends no scale request while the decision does not change', async () => {
    const rc = { name: 'acme/quiet', min: 1, max: 4 };
    world = await new ScalerWorld().setup('vms-quiet', [rc]);
    const counting = world.counting();
    await world.start(world.configYaml([rc]), { poolScaler: counting });
    const generation = (await world.pool(rc.name)).metadata.generation;

    await world.afterPolls(6);
    expect(counting.reads).toBeGreaterThanOrEqual(5);
    expect(counting.sets).toEqual([]);
    expect((await world.pool(rc.name)).metadata.generation).toBe(generation);

    await world.enqueue(rc.name, 3);
    await world.afterPolls(6);
    expect(counting.sets).toEqual([{ pool: world.poolRef(rc.name).name, replicas: 3 }]);
    expect(await world.replicas(rc.name)).toBe(3);
    expect(
      await world.registry.getSingleMetricAsString('longshore_vm_scaler_scale_requests_total'),
    ).toContain(
      `longshore_vm_scaler_scale_requests_total{resource_class="${rc.name}",service="vm-scaler"} 1`,
    );
  });

  it('scales two classes independently, each in its own pool', async () => {
    const small = { name: 'acme/small', min: 0, max: 3 };
    const large = { name: 'acme/large', min: 1, max: 8 };
    world = await new ScalerWorld().setup('vms-two', [small, large]);
    const scaler = await world.start(world.configYaml([small, large]));
    expect(scaler.pools.map((p) => [p.resourceClass, p.pool])).toEqual([
      [small.name, world.poolRef(small.name).name],
      [large.name, world.poolRef(large.name).name],
    ]);

    await world.enqueue(large.name, 6);
    await world.afterPolls(3, 2);
    expect(await world.replicas(large.name)).toBe(6);
    expect(await world.replicas(small.name)).toBe(0);

    await world.enqueue(small.name, 10);
    await world.afterPolls(3, 2);
    expect(await world.replicas(small.name)).toBe(3);
    expect(await world.replicas(large.name)).toBe(6);
  });

  it('publishes every decision on the bus, for `longshore tap`', async () => {
    const rc = { name: 'acme/tapped', min: 0, max: 2 };
    world = await new ScalerWorld().setup('vms-bus', [rc]);
    const since = new Date();
    await world.start(world.configYaml([rc]));
    await world.enqueue(rc.name, 1);
    await world.afterPolls();

    const decisions = await eventually(async () => {
      const seen: ScalerDecision[] = [];
      for await (const e of world.bus.replay({ since, filter: 'scaler.>' })) {
        if (e.name === 'scaler.decision') seen.push(e.payload);
      }
      const scaled = seen.find((d) => d.scaled);
      if (!scaled) throw new Error('no scaling decision on the bus yet');
      return seen;
    });
    expect(decisions.length).toBeGreaterThanOrEqual(world.log.withMsg('worker loop scaler').length - 2);
    expect(decisions.find((d) => d.scaled)).toMatchObject({
      resource_class: rc.name,
      pool: world.poolRef(rc.name).name,
      namespace: world.namespace,
      unclaimed_tasks: 1,
      running_tasks: 0,
      desired_vms: 1,
      previous_vms: 0,
      scaled: true,
    });
    const text = JSON.stringify(decisions);
    expect(text).not.toContain(API_TOKEN);
    expect(text).not.toContain(tokenOf(rc.name));
  });
});
