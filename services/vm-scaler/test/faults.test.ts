// A flaky Runner API: error statuses and malformed bodies are logged with seed 002's exact
// messages, the pool keeps its last good size meanwhile, and the loop recovers by itself.

import { eventually } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { API_TOKEN, ScalerWorld, tokenOf } from './support.ts';

let world: ScalerWorld;
afterEach(async () => {
  await world.teardown();
});

describe('Runner API failures', () => {
  it('survives error statuses: "failed to get unclaimed tasks", the last good size kept, then recovery', async () => {
    const rc = { name: 'acme/flaky', min: 1, max: 6 };
    world = await new ScalerWorld().setup('vms-fault-status', [rc]);
    const scaler = await world.start(world.configYaml([rc]));
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(1);

    await world.admin.setFaults([{ endpoint: 'unclaimedCount', kind: 'status', status: 503, times: 3 }]);
    await world.enqueue(rc.name, 4);
    const failures = await eventually(() => {
      const lines = world.log.withMsg('failed to get unclaimed tasks');
      expect(lines).toHaveLength(3);
      return lines;
    });
    // While the counts could not be read, the pool kept its last good size.
    expect(await world.replicas(rc.name)).toBe(1);
    for (const l of failures) {
      expect(l).toMatchObject({ level: 50, loop_name: 'scaler', resource_class: rc.name });
      expect(l.error).toMatchObject({ type: 'RunnerQueueError', kind: 'status', status: 503 });
    }

    await eventually(async () => expect(await world.replicas(rc.name)).toBe(4));
    await eventually(() => expect(scaler.ready()).toBe(true));
    expect(world.log.withMsg('failed to get running tasks')).toEqual([]);
  });

  it('survives malformed bodies: "failed to get running tasks" for each, then recovery', async () => {
    const rc = { name: 'acme/garbled', min: 0, max: 6 };
    world = await new ScalerWorld().setup('vms-fault-garbage', [rc]);
    await world.start(world.configYaml([rc]));
    // The simulator rotates through HTML, JSON of the wrong shape, truncated JSON and an array.
    await world.admin.setFaults([{ endpoint: 'runningCount', kind: 'garbage', times: 4 }]);
    await world.enqueue(rc.name, 2);

    const failures = await eventually(() => {
      const lines = world.log.withMsg('failed to get running tasks');
      expect(lines).toHaveLength(4);
      return lines;
    });
    expect(failures.map((l) => (l.error as { kind: string }).kind)).toEqual([
      'malformed',
      'malformed',
      'malformed',
      'malformed',
    ]);
    const messages = failures.map((l) => (l.error as { message: string }).message);
    expect(messages.filter((m) => m.includes('answer is not JSON ('))).toHaveLength(2);
    expect(messages.filter((m) => m.includes('answer is not the expected shape ('))).toHaveLength(2);
    expect(world.log.withMsg('failed to get unclaimed tasks')).toEqual([]);

    await eventually(async () => expect(await world.replicas(rc.name)).toBe(2));
    const stats = await world.admin.stats();
    expect(stats.requests.runningCount?.['200']).toBeGreaterThan(4);
  });

  it('backs off while the API stays down, and never logs a token', async () => {
    const rc = { name: 'acme/down', min: 0, max: 2 };
    world = await new ScalerWorld().setup('vms-fault-down', [rc]);
    await world.admin.setFaults([{ endpoint: '*', kind: 'status', status: 500 }]);
    const scaler = await world.start(world.configYaml([rc]));
    await new Promise((r) => setTimeout(r, 2_000));
    // Polling every 200 ms would make ~10 attempts in 2 s; doubling pauses make at most 5.
    const attempts = world.log.withMsg('failed to get unclaimed tasks').length;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(5);
    expect(scaler.ready()).toBe(false);
    const text = world.log.text.join('\n');
    expect(text).not.toContain(API_TOKEN);
    expect(text).not.toContain(tokenOf(rc.name));
  });
});
