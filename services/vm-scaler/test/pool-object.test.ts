// The VirtualMachinePool and Secret as the apiserver stores them: our cloud-init volume
// from a Secret holding the runner's settings, updates that reach only the template, the
// existing-Secret form of the config, and pools that are not ours left alone.

import { eventually } from '@longshore/testbed/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOUD_INIT_VOLUME, VmScalerStartError } from '../src/index.ts';
import { API_TOKEN, poolApi, ScalerWorld, tokenOf } from './support.ts';

let world: ScalerWorld;
afterEach(async () => {
  await world.teardown();
});

async function userDataOf(w: ScalerWorld, secretName: string): Promise<string> {
  const s = await w.kube.core.readNamespacedSecret({ name: secretName, namespace: w.namespace });
  return Buffer.from(s.data?.userdata ?? '', 'base64').toString('utf8');
}

describe('the pool in the apiserver', () => {
  it('carries our cloud-init volume, from a Secret with the runner config', async () => {
    const rc = { name: 'acme/cloudinit', min: 1, max: 3, idleTimeout: '10m' };
    world = await new ScalerWorld().setup('vms-pool', [rc]);
    const scaler = await world.start(world.configYaml([rc]));
    const [info] = scaler.pools;
    const pool = await world.pool(rc.name);

    const template = pool.spec.virtualMachineTemplate;
    expect(template.spec.runStrategy).toBe('Once');
    expect(pool.spec.selector.matchLabels).toEqual({ 'longshore.io/vm-pool': info?.pool });
    expect(template.metadata.labels).toMatchObject(pool.spec.selector.matchLabels);
    expect(template.spec.template.spec).toEqual({
      domain: {
        resources: { requests: { memory: '2Gi', cpu: '1' } },
        devices: {
          disks: [
            { name: 'disk', disk: { bus: 'virtio' } },
            { name: CLOUD_INIT_VOLUME, disk: { bus: 'virtio' } },
          ],
        },
      },
      volumes: [
        { name: 'disk', containerDisk: { image: 'quay.io/containerdisks/ubuntu:22.04' } },
        { name: CLOUD_INIT_VOLUME, cloudInitNoCloud: { secretRef: { name: info?.secret } } },
      ],
    });

    const secret = await world.kube.core.readNamespacedSecret({
      name: info?.secret ?? '',
      namespace: world.namespace,
    });
    expect(secret.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'longshore' });
    const userData = await userDataOf(world, info?.secret ?? '');
    expect(userData.startsWith('#!/bin/bash\n')).toBe(true);
    expect(userData).toContain(`readonly RUNNER_AUTH_TOKEN_YAML='"${tokenOf(rc.name)}"'`);
    expect(userData).toContain(`readonly RUNNER_API_URL_YAML='"${world.sim.url}"'`);
    expect(userData).toContain(`readonly RUNNER_IDLE_TIMEOUT_YAML='"10m"'`);
    expect(userData).toContain('mode: single-task');
    // The token is in the Secret only: not in the pool, not in any log line.
    expect(JSON.stringify(pool)).not.toContain(tokenOf(rc.name));
    expect(world.log.text.join('\n')).not.toContain(tokenOf(rc.name));
    expect(world.log.text.join('\n')).not.toContain(API_TOKEN);
  });

  it('applies a config change to the template and user data only, keeping the size and extra settings', async () => {
    const rc = { name: 'acme/upgrade', min: 1, max: 5 };
    world = await new ScalerWorld().setup('vms-upgrade', [rc]);
    const first = await world.start(world.configYaml([rc]));
    await world.enqueue(rc.name, 3);
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(3);
    await first.stop();
    // Someone pauses the pool by hand: a restart of the scaler must not undo that.
    await world.custom.patchNamespacedCustomObject({
      ...poolApi(),
      namespace: world.namespace,
      name: world.poolRef(rc.name).name,
      body: [{ op: 'add', path: '/spec/paused', value: true }],
    });
    const before = await world.pool(rc.name);

    const changed = world.configYaml([
      { ...rc, idleTimeout: '5m', spec: '{domain: {resources: {requests: {memory: 4Gi, cpu: "2"}}}}' },
    ]);
    await world.start(changed);
    const after = await world.pool(rc.name);
    expect(after.metadata.generation).toBeGreaterThan(before.metadata.generation);
    expect(after.spec.replicas).toBe(3);
    expect(after.spec.paused).toBe(true);
    expect(after.spec.virtualMachineTemplate.spec.template.spec).toMatchObject({
      domain: { resources: { requests: { memory: '4Gi', cpu: '2' } } },
    });
    expect(await userDataOf(world, world.poolRef(rc.name).secretName)).toContain(
      `readonly RUNNER_IDLE_TIMEOUT_YAML='"5m"'`,
    );
    expect(
      world.log.withMsg('VirtualMachinePool applied').map((l) => [l.pool_change, l.secret_change]),
    ).toEqual([
      ['created', 'created'],
      ['updated', 'updated'],
    ]);
  });

  it('reads the classes and the API token from provisioner.existingSecret', async () => {
    const rc = { name: 'acme/from-secret' };
    world = await new ScalerWorld().setup('vms-secret', [rc]);
    const configYaml = [
      'resourceClass:',
      `  "${rc.name}":`,
      `    token: "${tokenOf(rc.name)}"`,
      '    minReplicas: 1',
      '    maxReplicas: 4',
    ].join('\n');
    await world.kube.core.createNamespacedSecret({
      namespace: world.namespace,
      body: {
        metadata: { name: 'my-secret' },
        stringData: { 'circle-token': API_TOKEN, 'config.yaml': configYaml },
      },
    });
    const scaler = await world.start(
      [
        'provisioner:',
        `  circleciAPIAddr: ${world.sim.url}`,
        '  existingSecret: my-secret',
        `  namespace: ${world.namespace}`,
        '  pollInterval: 200ms',
      ].join('\n'),
    );
    expect(scaler.pools.map((p) => [p.resourceClass, p.minReplicas, p.maxReplicas])).toEqual([
      [rc.name, 1, 4],
    ]);
    await world.enqueue(rc.name, 2);
    await world.afterPolls();
    expect(await world.replicas(rc.name)).toBe(2);
    expect(world.log.text.join('\n')).not.toContain(API_TOKEN);
  });

  it('stops at start, naming the key, when the existing Secret is missing', async () => {
    world = await new ScalerWorld().setup('vms-nosecret', []);
    await expect(
      world.start(`provisioner: {existingSecret: absent, namespace: ${world.namespace}}`),
    ).rejects.toThrow(
      `invalid config test-values.yaml: provisioner.existingSecret: Secret ${world.namespace}/absent not found`,
    );
  });

  it('refuses to take over a pool of the same name that it does not manage', async () => {
    const rc = { name: 'acme/taken' };
    world = await new ScalerWorld().setup('vms-taken', [rc]);
    const { group, version } = poolApi();
    await world.custom.createNamespacedCustomObject({
      ...poolApi(),
      namespace: world.namespace,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'VirtualMachinePool',
        metadata: { name: world.poolRef(rc.name).name },
        spec: { replicas: 7 },
      },
    });
    const started = world.start(world.configYaml([rc]));
    await expect(started).rejects.toThrow(VmScalerStartError);
    await expect(started).rejects.toThrow('is not managed by Longshore');
    expect(await world.replicas(rc.name)).toBe(7);
  });

  it('creates the pool again when it is deleted while running', async () => {
    const rc = { name: 'acme/recreated', min: 2, max: 4 };
    world = await new ScalerWorld().setup('vms-recreate', [rc]);
    await world.start(world.configYaml([rc]));
    const ref = world.poolRef(rc.name);
    const uid = ((await world.pool(rc.name)).metadata as { uid?: string }).uid;
    await world.custom.deleteNamespacedCustomObject({
      ...poolApi(),
      namespace: world.namespace,
      name: ref.name,
    });
    await eventually(async () => {
      const pool = await world.pool(rc.name);
      expect((pool.metadata as { uid?: string }).uid).not.toBe(uid);
      expect(pool.spec.replicas).toBe(2);
    });
    expect(
      world.log.withMsg('the VirtualMachinePool is gone; creating it again').length,
    ).toBeGreaterThanOrEqual(1);
  });
});
