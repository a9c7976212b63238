import { defaultVmSpec } from '@longshore/config';
import { describe, expect, it } from 'vitest';
import {
  buildCloudInitSecret,
  buildVmPool,
  CLOUD_INIT_VOLUME,
  poolNameFor,
  poolTargetFor,
  VmSpecError,
  withCloudInit,
} from './vm-pool.ts';

const target = poolTargetFor('my-org/my-runner', 'runners');

/** The value at a dotted path of a plain object. */
function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

describe('poolNameFor', () => {
  it('is readable, DNS-safe and stable', () => {
    expect(poolNameFor('my-org/my-runner')).toMatch(/^my-org-my-runner-[0-9a-f]{6}$/);
    expect(poolNameFor('my-org/my-runner')).toBe(poolNameFor('my-org/my-runner'));
  });

  it('tells apart classes that differ only in characters a name cannot hold', () => {
    expect(poolNameFor('My_Org/runner.large')).not.toBe(poolNameFor('my-org/runner-large'));
    expect(poolNameFor('My_Org/runner.large')).toMatch(/^my-org-runner-large-[0-9a-f]{6}$/);
  });

  it('leaves room for KubeVirt VM name suffixes within a 63-character host name', () => {
    const name = poolNameFor(`${'a'.repeat(60)}/${'b'.repeat(60)}`);
    expect(name.length).toBeLessThanOrEqual(47);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it('names the Secret after the pool', () => {
    expect(target).toEqual({
      namespace: 'runners',
      name: poolNameFor('my-org/my-runner'),
      secretName: `${target.name}-cloud-init`,
    });
  });
});

describe('buildVmPool', () => {
  const pool = buildVmPool({ name: 'my-org/my-runner', spec: defaultVmSpec() }, target, { replicas: 3 });

  it('is a VirtualMachinePool of our labels, whose selector matches its VM template', () => {
    expect(pool).toMatchObject({
      apiVersion: 'pool.kubevirt.io/v1beta1',
      kind: 'VirtualMachinePool',
      metadata: {
        name: target.name,
        namespace: 'runners',
        labels: {
          'app.kubernetes.io/managed-by': 'longshore',
          'longshore.io/vm-pool': target.name,
          'longshore.io/resource-class': 'my-org.my-runner',
        },
        annotations: { 'longshore.io/resource-class': 'my-org/my-runner' },
      },
      spec: { replicas: 3, selector: { matchLabels: { 'longshore.io/vm-pool': target.name } } },
    });
    const selector = at(pool, 'spec.selector.matchLabels') as Record<string, string>;
    expect(at(pool, 'spec.virtualMachineTemplate.metadata.labels')).toMatchObject(selector);
    expect(at(pool, 'spec.virtualMachineTemplate.spec.template.metadata.labels')).toMatchObject(selector);
  });

  it('runs each VM once and never has KubeVirt stop VMs on scale-in or update', () => {
    expect(at(pool, 'spec.virtualMachineTemplate.spec.runStrategy')).toBe('Once');
    expect(at(pool, 'spec.scaleInStrategy')).toEqual({ opportunistic: {} });
    expect(at(pool, 'spec.updateStrategy')).toEqual({ opportunistic: {} });
  });

  it("is the user's VMI spec plus our cloud-init disk and volume from the Secret", () => {
    const vmi = at(pool, 'spec.virtualMachineTemplate.spec.template.spec');
    expect(vmi).toEqual({
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
        { name: CLOUD_INIT_VOLUME, cloudInitNoCloud: { secretRef: { name: target.secretName } } },
      ],
    });
  });

  it('leaves out the resource-class label when the name is too long for a label value', () => {
    const long = `org/${'r'.repeat(70)}`;
    const p = buildVmPool({ name: long, spec: {} }, poolTargetFor(long, 'ns'), { replicas: 0 });
    expect(p.metadata.labels['longshore.io/resource-class']).toBeUndefined();
    expect(p.metadata.annotations['longshore.io/resource-class']).toBe(long);
  });
});

describe('withCloudInit', () => {
  it('does not change the configured spec', () => {
    const spec = defaultVmSpec();
    withCloudInit(spec, 's');
    expect(spec).toEqual(defaultVmSpec());
  });

  it('adds the devices and volumes lists when the spec has none', () => {
    expect(withCloudInit({ domain: { cpu: { cores: 2 } } }, 's')).toEqual({
      domain: {
        cpu: { cores: 2 },
        devices: { disks: [{ name: CLOUD_INIT_VOLUME, disk: { bus: 'virtio' } }] },
      },
      volumes: [{ name: CLOUD_INIT_VOLUME, cloudInitNoCloud: { secretRef: { name: 's' } } }],
    });
  });

  it("rejects a user's own cloud-init volume, naming it", () => {
    const spec = {
      ...defaultVmSpec(),
      volumes: [
        { name: 'disk', containerDisk: { image: 'x' } },
        { name: 'cloudinitdisk', cloudInitNoCloud: { userData: '#cloud-config' } },
      ],
    };
    expect(() => withCloudInit(spec, 's')).toThrow(
      new VmSpecError(
        'volumes[1]',
        'has cloudInitNoCloud: remove it, the provisioner appends its own cloud-init volume to every VM',
      ),
    );
    expect(() => withCloudInit({ volumes: [{ name: 'c', cloudInitConfigDrive: {} }] }, 's')).toThrow(
      'volumes[0]: has cloudInitConfigDrive',
    );
  });

  it('rejects our reserved name on a disk or volume', () => {
    expect(() =>
      withCloudInit({ domain: { devices: { disks: [{ name: CLOUD_INIT_VOLUME }] } } }, 's'),
    ).toThrow(`domain.devices.disks[0].name: "${CLOUD_INIT_VOLUME}" is reserved`);
    expect(() => withCloudInit({ volumes: [{ name: CLOUD_INIT_VOLUME, containerDisk: {} }] }, 's')).toThrow(
      `volumes[0].name: "${CLOUD_INIT_VOLUME}" is reserved`,
    );
  });

  it('rejects shapes it cannot append to', () => {
    expect(() => withCloudInit({ volumes: {} }, 's')).toThrow('volumes: must be a list');
    expect(() => withCloudInit({ domain: 'x' }, 's')).toThrow('domain: must be a mapping');
    expect(() => withCloudInit({ domain: { devices: { disks: ['x'] } } }, 's')).toThrow(
      'domain.devices.disks[0]: must be a mapping',
    );
  });
});

describe('buildCloudInitSecret', () => {
  it('holds the user data under the key KubeVirt reads, with our labels', () => {
    const s = buildCloudInitSecret({ name: 'my-org/my-runner' }, target, '#!/bin/bash\necho hi\n');
    expect(s.metadata).toMatchObject({
      name: target.secretName,
      namespace: 'runners',
      labels: { 'app.kubernetes.io/managed-by': 'longshore', 'longshore.io/vm-pool': target.name },
    });
    expect(Buffer.from(s.data?.userdata ?? '', 'base64').toString()).toBe('#!/bin/bash\necho hi\n');
  });
});
