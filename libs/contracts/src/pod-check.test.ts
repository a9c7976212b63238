import { describe, expect, it } from 'vitest';
import { PodCheckResult, podCheckFingerprint, podCheckGate, podCheckKey } from './pod-check.ts';

const agent = {
  resourceClasses: {
    'acme/small': {
      spec: { nodeSelector: { disktype: 'ssd' }, containers: [{ resources: { limits: { cpu: '1' } } }] },
    },
    'acme/bare': {},
  },
  taskPod: { initImage: 'circleci/runner-init:agent', binDir: '/opt/circleci/bin' },
  maxRunTime: 18_000_000,
  autodetectPlatform: true,
};

describe('podCheckFingerprint', () => {
  it('is the same for the same config whatever the order of its keys', () => {
    const reordered = {
      autodetectPlatform: true,
      maxRunTime: 18_000_000,
      taskPod: { binDir: '/opt/circleci/bin', initImage: 'circleci/runner-init:agent' },
      resourceClasses: {
        'acme/small': {
          spec: { containers: [{ resources: { limits: { cpu: '1' } } }], nodeSelector: { disktype: 'ssd' } },
        },
      },
    };
    expect(podCheckFingerprint(reordered, 'acme/small')).toBe(podCheckFingerprint(agent, 'acme/small'));
    expect(podCheckFingerprint(agent, 'acme/small')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with anything the pod is built from, and differs between classes', () => {
    const base = podCheckFingerprint(agent, 'acme/small');
    const changed = (patch: object) => podCheckFingerprint({ ...agent, ...patch }, 'acme/small');
    expect(
      changed({ resourceClasses: { 'acme/small': { spec: { nodeSelector: { disktype: 'hdd' } } } } }),
    ).not.toBe(base);
    expect(changed({ taskPod: { initImage: 'mirror/runner-init:agent' } })).not.toBe(base);
    expect(changed({ maxRunTime: 1_000 })).not.toBe(base);
    expect(changed({ autodetectPlatform: false })).not.toBe(base);
    expect(podCheckFingerprint(agent, 'acme/bare')).not.toBe(base);
    // Order inside a list is meaningful (containers[0] is the template).
    const twoContainers = (a: object, b: object) =>
      podCheckFingerprint(
        { ...agent, resourceClasses: { 'acme/small': { spec: { containers: [a, b] } } } },
        'acme/small',
      );
    expect(twoContainers({ name: 'a' }, { name: 'b' })).not.toBe(twoContainers({ name: 'b' }, { name: 'a' }));
  });
});

describe('PodCheckResult', () => {
  it('takes a verdict with the field and reason, keyed like the constraint status', () => {
    const r = PodCheckResult.parse({
      resource_class: 'acme/small',
      at: '2026-12-04T12:00:00.000Z',
      outcome: 'refused',
      field: 'spec.containers[0].resourcez',
      reason: 'strict decoding error: unknown field "spec.containers[0].resourcez"',
      fingerprint: podCheckFingerprint(agent, 'acme/small'),
      runner: 'scheduler-0',
    });
    expect(r.outcome).toBe('refused');
    expect(podCheckKey('acme/small')).toBe('acme.small');
    expect(PodCheckResult.safeParse({ ...r, fingerprint: 'abc' }).success).toBe(false);
  });
});

describe('podCheckGate', () => {
  const fp = podCheckFingerprint(agent, 'acme/small');
  const entry = (outcome: 'accepted' | 'refused' | 'unchecked', fingerprint = fp): PodCheckResult => ({
    resource_class: 'acme/small',
    at: '2026-12-04T12:00:00.000Z',
    outcome,
    reason: outcome === 'accepted' ? '' : 'why',
    fingerprint,
    runner: 'scheduler-0',
  });

  it('lets a class claim only on a verdict about its own config that is not a refusal', () => {
    expect(podCheckGate(entry('accepted'), fp)).toEqual({ claim: true, state: 'accepted' });
    expect(podCheckGate(entry('unchecked'), fp)).toEqual({ claim: true, state: 'unchecked' });
    expect(podCheckGate(entry('refused'), fp)).toEqual({ claim: false, state: 'refused' });
  });

  it('waits while there is no verdict, or only one about another config', () => {
    expect(podCheckGate(undefined, fp)).toEqual({ claim: false, state: 'pending' });
    expect(podCheckGate(entry('accepted', '0'.repeat(64)), fp)).toEqual({ claim: false, state: 'pending' });
    // A refusal of an older config does not hold back the fixed one either.
    expect(podCheckGate(entry('refused', '0'.repeat(64)), fp)).toEqual({ claim: false, state: 'pending' });
  });
});
