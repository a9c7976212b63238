import { describe, expect, it } from 'vitest';
import { finishedVmsOf } from './vm-reaper.ts';

const vmi = (name: string, phase: string | undefined, extra: Record<string, unknown> = {}) => ({
  metadata: {
    name,
    labels: { 'app.kubernetes.io/managed-by': 'longshore', 'longshore.io/vm-pool': 'pool-a' },
    ownerReferences: [
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name, uid: `uid-${name}`, controller: true },
    ],
    ...extra,
  },
  ...(phase === undefined ? {} : { status: { phase } }),
});

describe('finishedVmsOf', () => {
  it('picks the VMs whose single run ended, by their controlling VirtualMachine', () => {
    const items = [
      vmi('pool-a-0', 'Running'),
      vmi('pool-a-1', 'Succeeded'),
      vmi('pool-a-2', 'Failed'),
      vmi('pool-a-3', 'Scheduling'),
      vmi('pool-a-4', undefined),
    ];
    expect(finishedVmsOf('runners', items)).toEqual([
      { namespace: 'runners', name: 'pool-a-1', uid: 'uid-pool-a-1', pool: 'pool-a', phase: 'Succeeded' },
      { namespace: 'runners', name: 'pool-a-2', uid: 'uid-pool-a-2', pool: 'pool-a', phase: 'Failed' },
    ]);
  });

  it('skips instances being deleted, without a pool label or a VM owner, and things that are not VMIs', () => {
    const items = [
      vmi('a', 'Succeeded', { deletionTimestamp: '2025-01-01T00:00:00Z' }),
      vmi('b', 'Succeeded', { labels: {} }),
      vmi('c', 'Succeeded', { ownerReferences: [] }),
      vmi('d', 'Succeeded', { ownerReferences: [{ kind: 'VirtualMachine', name: 'd', uid: 'u' }] }),
      { kind: 'Status' },
      null,
    ];
    expect(finishedVmsOf('ns', items)).toEqual([]);
  });
});
