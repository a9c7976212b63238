import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { checkConstraints, requirementMatches } from './check.ts';

interface Shape {
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  unschedulable?: boolean;
  ready?: boolean;
  cpu?: string;
  memory?: string;
}

function node(name: string, s: Shape = {}): V1Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', ...s.labels } },
    spec: { taints: s.taints ?? [], unschedulable: s.unschedulable },
    status: {
      allocatable: { cpu: s.cpu ?? '16', memory: s.memory ?? '64Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: s.ready === false ? 'False' : 'True' }],
    },
  };
}

const fleet = [
  node('a0'),
  node('a1'),
  node('arm0', { labels: { 'kubernetes.io/arch': 'arm64', zone: '2' }, cpu: '8', memory: '32Gi' }),
  node('ssd0', { labels: { disktype: 'ssd', zone: '5' } }),
  node('spot0', {
    labels: { lifecycle: 'Ec2Spot' },
    taints: [{ key: 'lifecycle', value: 'Ec2Spot', effect: 'NoExecute' }],
  }),
];

const affinity = (...terms: unknown[]) => ({
  affinity: {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } },
  },
});

describe('checkConstraints', () => {
  it('passes a class without constraints when a node is usable', () => {
    expect(checkConstraints(undefined, fleet)).toEqual({ ok: true });
    expect(checkConstraints({}, fleet)).toEqual({ ok: true });
  });

  it('does not count unschedulable or NotReady nodes', () => {
    const r = checkConstraints({}, [node('x', { unschedulable: true }), node('y', { ready: false })]);
    expect(r).toEqual({
      ok: false,
      reason: 'no node is Ready and schedulable (2 nodes checked: 1 unschedulable, 1 of the rest NotReady)',
    });
    expect(
      checkConstraints({ nodeSelector: { disktype: 'ssd' } }, [
        node('s', { labels: { disktype: 'ssd' }, ready: false }),
        node('a'),
      ]),
    ).toMatchObject({ ok: false });
    // A node without a Ready condition is not Ready.
    expect(checkConstraints({}, [{ metadata: { name: 'bare' } }])).toMatchObject({ ok: false });
  });

  it('checks nodeSelector and says how many nodes have each label', () => {
    expect(checkConstraints({ nodeSelector: { disktype: 'ssd' } }, fleet)).toEqual({ ok: true });
    expect(
      checkConstraints(
        { nodeSelector: { disktype: 'ssd' } },
        fleet.filter((n) => n.metadata?.name !== 'ssd0'),
      ),
    ).toEqual({
      ok: false,
      reason: 'no node matches nodeSelector disktype=ssd (4 nodes checked: 0 have disktype=ssd)',
    });
    expect(
      checkConstraints({ nodeSelector: { disktype: 'ssd', 'kubernetes.io/arch': 'arm64' } }, fleet),
    ).toEqual({
      ok: false,
      reason:
        'no node matches nodeSelector disktype=ssd,kubernetes.io/arch=arm64 (5 nodes checked: 1 have disktype=ssd, 1 have kubernetes.io/arch=arm64)',
    });
  });

  it('checks nodeName', () => {
    expect(checkConstraints({ nodeName: 'a1' }, fleet)).toEqual({ ok: true });
    expect(checkConstraints({ nodeName: 'gone' }, fleet)).toEqual({
      ok: false,
      reason: 'nodeName gone is not a node of the cluster (5 nodes checked)',
    });
    expect(checkConstraints({ nodeName: 'c' }, [node('a'), node('c', { unschedulable: true })])).toEqual({
      ok: false,
      reason: 'nodeName c is not Ready or is unschedulable',
    });
  });

  describe('required node affinity', () => {
    const expr = (key: string, operator: string, values?: string[]) =>
      affinity({ matchExpressions: [{ key, operator, values }] });
    it.each([
      ['In match', expr('disktype', 'In', ['ssd', 'nvme']), true],
      ['In no match', expr('disktype', 'In', ['nvme']), false],
      ['NotIn', expr('kubernetes.io/arch', 'NotIn', ['amd64']), true],
      ['NotIn excluding all', expr('kubernetes.io/os', 'NotIn', ['linux']), false],
      ['Exists', expr('disktype', 'Exists'), true],
      ['Exists no match', expr('gpu', 'Exists'), false],
      ['DoesNotExist', expr('disktype', 'DoesNotExist'), true],
      ['DoesNotExist no match', expr('kubernetes.io/os', 'DoesNotExist'), false],
      ['Gt', expr('zone', 'Gt', ['4']), true],
      ['Gt no match', expr('zone', 'Gt', ['5']), false],
      ['Lt', expr('zone', 'Lt', ['3']), true],
      ['Lt no match', expr('zone', 'Lt', ['2']), false],
    ])('%s', (_name, spec, ok) => {
      expect(checkConstraints(spec, fleet).ok).toBe(ok);
    });

    it('ANDs expressions within a term and ORs the terms', () => {
      const and = affinity({
        matchExpressions: [
          { key: 'disktype', operator: 'In', values: ['ssd'] },
          { key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] },
        ],
      });
      expect(checkConstraints(and, fleet)).toEqual({
        ok: false,
        reason:
          'no node matches the required node affinity (5 nodes checked; term 1: disktype In [ssd] matches 1, kubernetes.io/arch In [arm64] matches 1)',
      });
      const or = affinity(
        { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['nvme'] }] },
        { matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] }] },
      );
      expect(checkConstraints(or, fleet)).toEqual({ ok: true });
    });

    it('matches fields on metadata.name', () => {
      expect(
        checkConstraints(
          affinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a0'] }] }),
          fleet,
        ).ok,
      ).toBe(true);
      expect(
        checkConstraints(
          affinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['zz'] }] }),
          fleet,
        ),
      ).toEqual({
        ok: false,
        reason:
          'no node matches the required node affinity (5 nodes checked; term 1: metadata.name In [zz] matches 0)',
      });
      expect(
        checkConstraints(affinity({ matchFields: [{ key: 'metadata.uid', operator: 'Exists' }] }), fleet).ok,
      ).toBe(false);
    });

    it('an empty term matches nothing', () => {
      expect(checkConstraints(affinity({}), fleet)).toEqual({
        ok: false,
        reason:
          'no node matches the required node affinity (5 nodes checked; term 1: empty (matches nothing))',
      });
    });
  });

  it('Gt/Lt need integers on both sides; unknown operators match nothing', () => {
    expect(requirementMatches({ key: 'k', operator: 'Gt', values: ['1'] }, 'x')).toBe(false);
    expect(requirementMatches({ key: 'k', operator: 'Gt', values: ['x'] }, '3')).toBe(false);
    expect(requirementMatches({ key: 'k', operator: 'Lt', values: ['10'] }, '-3')).toBe(true);
    expect(requirementMatches({ key: 'k', operator: 'Gt' }, '3')).toBe(false);
    expect(requirementMatches({ key: 'k', operator: 'Like', values: ['3'] }, '3')).toBe(false);
  });

  describe('taints', () => {
    const spotOnly = { nodeSelector: { lifecycle: 'Ec2Spot' } };
    it('a node with an untolerated NoExecute/NoSchedule taint does not fit', () => {
      expect(checkConstraints(spotOnly, fleet)).toEqual({
        ok: false,
        reason:
          'nodes matching the selector are all tainted lifecycle=Ec2Spot:NoExecute, which the class does not tolerate (1 of 5 usable nodes)',
      });
      const tainted = [node('n', { taints: [{ key: 'dedicated', effect: 'NoSchedule' }] })];
      expect(checkConstraints({}, tainted)).toEqual({
        ok: false,
        reason:
          'Ready nodes are all tainted dedicated:NoSchedule, which the class does not tolerate (1 of 1 usable nodes)',
      });
    });
    it('PreferNoSchedule taints do not stop a pod', () => {
      expect(
        checkConstraints({}, [node('n', { taints: [{ key: 'k', effect: 'PreferNoSchedule' }] })]).ok,
      ).toBe(true);
    });
    it.each([
      [
        'Equal with value',
        { key: 'lifecycle', operator: 'Equal', value: 'Ec2Spot', effect: 'NoExecute' },
        true,
      ],
      ['default operator is Equal', { key: 'lifecycle', value: 'Ec2Spot' }, true],
      ['Equal with another value', { key: 'lifecycle', value: 'OnDemand' }, false],
      ['Exists on the key', { key: 'lifecycle', operator: 'Exists' }, true],
      ['empty key with Exists tolerates all', { operator: 'Exists' }, true],
      ['another effect', { key: 'lifecycle', operator: 'Exists', effect: 'NoSchedule' }, false],
      ['another key', { key: 'other', operator: 'Exists' }, false],
    ])('toleration: %s', (_n, toleration, ok) => {
      expect(checkConstraints({ ...spotOnly, tolerations: [toleration] }, fleet).ok).toBe(ok);
    });
    it('every such taint of a node must be tolerated', () => {
      const n = node('n', {
        taints: [
          { key: 'a', effect: 'NoSchedule' },
          { key: 'b', value: 'x', effect: 'NoExecute' },
        ],
      });
      const r = checkConstraints({ tolerations: [{ key: 'a', operator: 'Exists' }] }, [n]);
      expect(r).toEqual({
        ok: false,
        reason:
          'Ready nodes are all tainted b=x:NoExecute, which the class does not tolerate (1 of 1 usable nodes)',
      });
    });
  });

  describe("a malformed spec (it is the operator's config) fails the check, naming the field", () => {
    it.each([
      [
        'a string nodeSelector',
        { nodeSelector: 'disktype=ssd' },
        'spec.nodeSelector must be a map of strings',
      ],
      [
        'a number in nodeSelector',
        { nodeSelector: { zone: 5 } },
        'spec.nodeSelector.zone must be a string (quote numbers and booleans)',
      ],
      [
        'string nodeSelectorTerms',
        {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: 'disktype' },
            },
          },
        },
        'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms must be a list of node selector terms',
      ],
      [
        'a string term',
        affinity('disktype=ssd'),
        'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0] must be a mapping with matchExpressions and/or matchFields',
      ],
      [
        'string matchExpressions and a requirement without a key',
        affinity(
          { matchExpressions: 'disktype In ssd' },
          { matchFields: [{ operator: 'In', values: ['a0'] }] },
        ),
        'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions must be a list of node selector requirements; ' +
          'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[1].matchFields[0].key must be set',
      ],
      [
        'string values',
        affinity({ matchExpressions: [{ key: 'disktype', operator: 'In', values: 'ssd' }] }),
        'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values must be a list of strings',
      ],
      ['a string affinity', { affinity: 'ssd nodes' }, 'spec.affinity must be a mapping'],
      [
        'tolerations as a mapping',
        { tolerations: { key: 'lifecycle' } },
        'spec.tolerations must be a list of tolerations',
      ],
      [
        'a toleration with a numeric value',
        { tolerations: [{ key: 'gpu', value: 1 }] },
        'spec.tolerations[0].value must be a string (quote numbers and booleans)',
      ],
      ['containers as a string', { containers: 'main' }, 'spec.containers must be a list of containers'],
      [
        'resources as a list',
        { containers: [{ resources: [{ cpu: 1 }] }] },
        'spec.containers[0].resources must be a mapping with requests and/or limits',
      ],
      [
        'a boolean request',
        { containers: [{ resources: { requests: { cpu: true } } }] },
        'spec.containers[0].resources.requests.cpu must be a quantity such as "500m", "2Gi" or 4',
      ],
      ['a spec that is not a mapping', 'nodeSelector', 'spec must be a mapping of Pod spec fields'],
    ])('%s', (_name, spec, reason) => {
      expect(checkConstraints(spec as Record<string, unknown>, fleet)).toEqual({ ok: false, reason });
    });

    it('null fields are unset, as in Kubernetes', () => {
      expect(
        checkConstraints(
          { nodeName: null, nodeSelector: null, affinity: null, tolerations: null, containers: null },
          fleet,
        ),
      ).toEqual({ ok: true });
    });
  });

  describe('resource requests', () => {
    const requests = (r: Record<string, string | number>, key: 'requests' | 'limits' = 'requests') => ({
      containers: [
        { name: 'main', resources: { [key]: r } },
        { name: 'side', resources: { requests: { cpu: '100' } } },
      ],
    });
    it('fits when allocatable >= requests (containers[0] only)', () => {
      expect(checkConstraints(requests({ cpu: '16', memory: '64Gi' }), fleet).ok).toBe(true);
      expect(checkConstraints(requests({ cpu: '500m', memory: '512Mi' }), fleet).ok).toBe(true);
    });
    it('does not fit when no node has enough', () => {
      expect(checkConstraints(requests({ cpu: '17' }), fleet)).toEqual({
        ok: false,
        reason:
          'no node has allocatable resources for the requests cpu=17 (4 Ready nodes that tolerate their taints; most allocatable: cpu=16)',
      });
      expect(
        checkConstraints(
          { nodeSelector: { 'kubernetes.io/arch': 'arm64' }, ...requests({ memory: '33Gi' }) },
          fleet,
        ),
      ).toEqual({
        ok: false,
        reason:
          'no node has allocatable resources for the requests memory=33Gi (1 nodes matching the selector that tolerate their taints; most allocatable: memory=32Gi)',
      });
    });
    it('a resource no node offers does not fit', () => {
      expect(checkConstraints(requests({ 'nvidia.com/gpu': 1 }), fleet).ok).toBe(false);
    });
    it('limits stand in for unset requests', () => {
      expect(checkConstraints(requests({ cpu: '32' }, 'limits'), fleet).ok).toBe(false);
    });
    it('a bad quantity is a failure that names it', () => {
      expect(checkConstraints(requests({ memory: '1GB' }), fleet)).toEqual({
        ok: false,
        reason: `the class's container requests memory=1GB: "1GB" is not a Kubernetes quantity`,
      });
    });
  });
});
