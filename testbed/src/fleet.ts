// The fake node fleet kwok runs: a mix that lets tests exercise placement for real
// (architectures, a labelled ssd pool, tainted spot nodes) with realistic sizes.
import type { V1Node } from '@kubernetes/client-node';

/** Annotation kwok is told to manage (see kwok's --manage-nodes-with-annotation-selector). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export interface NodeShape {
  name: string;
  arch: 'amd64' | 'arm64';
  cpu: string;
  memory: string;
  pods: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule' }[];
}

/**
 * The default fleet: 4 general amd64 nodes, 2 arm64 nodes, 1 amd64 ssd node, 1 tainted
 * amd64 spot node. With `size` > 8, extra general nodes (alternating arch) are added, for
 * benchmarks that want ~100 nodes.
 */
export function defaultFleet(size = 8): NodeShape[] {
  const general = (i: number, arch: 'amd64' | 'arm64'): NodeShape => ({
    name: `kwok-${arch}-${i}`,
    arch,
    cpu: arch === 'amd64' ? '16' : '8',
    memory: arch === 'amd64' ? '64Gi' : '32Gi',
    pods: '110',
  });
  const nodes: NodeShape[] = [
    general(0, 'amd64'),
    general(1, 'amd64'),
    general(2, 'amd64'),
    general(3, 'amd64'),
    general(0, 'arm64'),
    general(1, 'arm64'),
    { ...general(0, 'amd64'), name: 'kwok-ssd-0', labels: { disktype: 'ssd' } },
    {
      ...general(0, 'amd64'),
      name: 'kwok-spot-0',
      labels: { lifecycle: 'Ec2Spot' },
      taints: [{ key: 'lifecycle', value: 'Ec2Spot', effect: 'NoExecute' }],
    },
  ];
  for (let i = nodes.length; i < size; i++) {
    const arch = i % 2 === 0 ? 'amd64' : 'arm64';
    nodes.push(general(i, arch));
  }
  return nodes.slice(0, Math.max(size, 1));
}

export function nodeObject(shape: NodeShape): V1Node {
  const resources = { cpu: shape.cpu, memory: shape.memory, pods: shape.pods };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: shape.name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': shape.arch,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': shape.name,
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
        ...shape.labels,
      },
    },
    spec: { taints: shape.taints ?? [] },
    status: { allocatable: resources, capacity: resources },
  };
}
