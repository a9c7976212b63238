import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { nodeFingerprint } from './checker.ts';

const base: V1Node = {
  metadata: { name: 'n', labels: { a: '1' }, resourceVersion: '1' },
  spec: { taints: [] },
  status: {
    allocatable: { cpu: '4' },
    conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(0) }],
  },
};

describe('nodeFingerprint', () => {
  it('ignores heartbeats and resource versions', () => {
    const beat: V1Node = {
      ...base,
      metadata: { ...base.metadata, resourceVersion: '2' },
      status: {
        ...base.status,
        conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(1) }],
      },
    };
    expect(nodeFingerprint(beat)).toBe(nodeFingerprint(base));
  });

  it.each<[string, V1Node]>([
    ['relabelled', { ...base, metadata: { ...base.metadata, labels: { a: '2' } } }],
    ['tainted', { ...base, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }],
    ['cordoned', { ...base, spec: { ...base.spec, unschedulable: true } }],
    ['NotReady', { ...base, status: { ...base.status, conditions: [{ type: 'Ready', status: 'False' }] } }],
    ['resized', { ...base, status: { ...base.status, allocatable: { cpu: '8' } } }],
  ])('changes when a node is %s', (_what, changed) => {
    expect(nodeFingerprint(changed)).not.toBe(nodeFingerprint(base));
  });
});
