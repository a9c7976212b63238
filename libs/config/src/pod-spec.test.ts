import { describe, expect, it } from 'vitest';
import { describePodSpecProblem, readPodScheduling } from './pod-spec.ts';

const problems = (spec: unknown) => {
  const r = readPodScheduling(spec);
  return r.ok ? [] : r.problems.map(describePodSpecProblem);
};

describe('readPodScheduling', () => {
  it('reads an unset spec as empty, and keeps fields it does not check', () => {
    expect(readPodScheduling(undefined)).toEqual({ ok: true, spec: {} });
    expect(readPodScheduling(null)).toEqual({ ok: true, spec: {} });
    const spec = { nodeSelector: { disktype: 'ssd' }, hostNetwork: true, volumes: [{ name: 'v' }] };
    expect(readPodScheduling(spec)).toEqual({ ok: true, spec });
  });

  it('describes each problem by its path under spec', () => {
    expect(problems('nodeSelector: {}')).toEqual(['spec must be a mapping of Pod spec fields']);
    expect(problems({ nodeName: 5, nodeSelector: ['a'] })).toEqual([
      'spec.nodeName must be a string (quote numbers and booleans)',
      'spec.nodeSelector must be a map of strings',
    ]);
    expect(problems({ nodeSelector: { 'kubernetes.io/arch': true } })).toEqual([
      'spec.nodeSelector["kubernetes.io/arch"] must be a string (quote numbers and booleans)',
    ]);
    expect(
      problems({
        affinity: {
          nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: ['x'] } },
        },
      }),
    ).toEqual([
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0] must be a mapping with matchExpressions and/or matchFields',
    ]);
    expect(problems({ containers: [{ resources: { limits: 'lots' } }] })).toEqual([
      'spec.containers[0].resources.limits must be a map of resource names to quantities',
    ]);
  });
});
