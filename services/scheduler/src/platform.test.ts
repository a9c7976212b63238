import type { V1Affinity } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ARCH_LABEL, OS_LABEL, platformTerms, withPlatformAffinity } from './platform.ts';

const linux = (arch: string) => ({ os: 'linux', arch });
const term = (oses: string[], arches: string[]) => ({
  matchExpressions: [
    { key: OS_LABEL, operator: 'In', values: oses },
    { key: ARCH_LABEL, operator: 'In', values: arches },
  ],
});

/** Does a node with these labels satisfy the required node affinity? (The scheduler's rule.) */
function admits(affinity: V1Affinity | undefined, labels: Record<string, string>): boolean {
  const terms = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms === undefined) return true;
  return terms.some(
    (t) =>
      (t.matchExpressions ?? []).length > 0 &&
      (t.matchExpressions ?? []).every((e) => {
        const v = labels[e.key];
        if (e.operator === 'In') return v !== undefined && (e.values ?? []).includes(v);
        if (e.operator === 'NotIn') return v === undefined || !(e.values ?? []).includes(v);
        if (e.operator === 'Exists') return v !== undefined;
        throw new Error(`operator ${e.operator} not modelled`);
      }),
  );
}

const node = (os: string, arch: string, extra: Record<string, string> = {}) => ({
  [OS_LABEL]: os,
  [ARCH_LABEL]: arch,
  ...extra,
});

describe('platformTerms', () => {
  it('is no constraint without platforms, or with only unknown ones (attestation manifests)', () => {
    expect(platformTerms(undefined)).toBeUndefined();
    expect(platformTerms([])).toBeUndefined();
    expect(platformTerms([{ os: 'unknown', arch: 'unknown' }])).toBeUndefined();
  });

  it('uses one term when the pairs are a product of OSes and arches', () => {
    expect(platformTerms([linux('arm64'), linux('amd64'), linux('amd64')])).toEqual([
      term(['linux'], ['amd64', 'arm64']),
    ]);
    expect(
      platformTerms([
        { os: 'linux', arch: 'amd64' },
        { os: 'windows', arch: 'amd64' },
        { os: 'unknown', arch: 'unknown' },
      ]),
    ).toEqual([term(['linux', 'windows'], ['amd64'])]);
  });

  it('uses one term per group of OSes with the same arches when pairs are mixed, and never admits a pair not listed', () => {
    const terms = platformTerms([
      { os: 'linux', arch: 'amd64' },
      { os: 'windows', arch: 'arm64' },
    ]);
    expect(terms).toEqual([term(['linux'], ['amd64']), term(['windows'], ['arm64'])]);
    const affinity = withPlatformAffinity(undefined, [
      { os: 'linux', arch: 'amd64' },
      { os: 'windows', arch: 'arm64' },
    ]);
    expect(admits(affinity, node('linux', 'amd64'))).toBe(true);
    expect(admits(affinity, node('windows', 'arm64'))).toBe(true);
    expect(admits(affinity, node('linux', 'arm64'))).toBe(false);
    expect(admits(affinity, node('windows', 'amd64'))).toBe(false);
  });
});

describe('withPlatformAffinity', () => {
  it('leaves the affinity alone when there is no constraint', () => {
    const user: V1Affinity = { podAffinity: {} };
    expect(withPlatformAffinity(user, undefined)).toBe(user);
    expect(withPlatformAffinity(undefined, [])).toBeUndefined();
  });

  it('creates the required term when the user has none, keeping the rest of the affinity', () => {
    const preferred = [
      { weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
    ];
    const podAntiAffinity = { preferredDuringSchedulingIgnoredDuringExecution: [] };
    const out = withPlatformAffinity(
      { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: preferred }, podAntiAffinity },
      [linux('arm64')],
    );
    expect(out).toEqual({
      podAntiAffinity,
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: preferred,
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term(['linux'], ['arm64'])] },
      },
    });
  });

  it('ANDs the platform into every OR-ed user term (cross product with mixed pairs)', () => {
    const userTerms = [
      { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd'] }] },
      {
        matchExpressions: [{ key: 'pool', operator: 'In', values: ['big'] }],
        matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n9'] }],
      },
    ];
    const user: V1Affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: userTerms } },
    };
    const before = structuredClone(user);
    const out = withPlatformAffinity(user, [linux('amd64'), { os: 'windows', arch: 'arm64' }]);
    expect(user).toEqual(before);

    const terms = out?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    expect(terms).toHaveLength(4);
    expect(terms?.[0]?.matchExpressions).toEqual([
      userTerms[0]?.matchExpressions[0],
      ...term(['linux'], ['amd64']).matchExpressions,
    ]);
    expect(terms?.[3]).toEqual({
      matchExpressions: [userTerms[1]?.matchExpressions[0], ...term(['windows'], ['arm64']).matchExpressions],
      matchFields: userTerms[1]?.matchFields,
    });

    expect(admits(out, node('linux', 'amd64', { disktype: 'ssd' }))).toBe(true);
    expect(admits(out, node('windows', 'arm64', { pool: 'big' }))).toBe(true);
    expect(admits(out, node('linux', 'arm64', { disktype: 'ssd' }))).toBe(false);
    expect(admits(out, node('linux', 'amd64'))).toBe(false);
  });

  it('keeps an empty user term matching nothing, as it did', () => {
    const out = withPlatformAffinity(
      { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}] } } },
      [linux('amd64')],
    );
    expect(out?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      {},
    ]);
  });
});
