// autodetectPlatform: a task pod must land only on nodes that can run its primary image.
// The platforms come from the image's manifest (detected elsewhere); this turns them into
// required node affinity, merged with whatever affinity the resource class already has.
import type { V1Affinity, V1NodeSelectorTerm } from '@kubernetes/client-node';

/** One OS/arch pair an image supports, as an OCI image index spells it (linux/arm64). */
export interface Platform {
  readonly os: string;
  readonly arch: string;
}

/** The well-known node labels the kubelet sets from its own GOOS/GOARCH. */
export const OS_LABEL = 'kubernetes.io/os';
export const ARCH_LABEL = 'kubernetes.io/arch';

/**
 * Node selector terms (OR-ed) that match exactly the nodes of the given platforms, or
 * undefined for "no constraint" (none given, or none known: OCI indexes list attestation
 * manifests as unknown/unknown, which no node has).
 *
 * `os In A AND arch In B` matches every pair of A x B, so it is exact only when the pairs
 * form such a product. OSes are therefore grouped by their set of arches: each group is a
 * product by construction and gets one term, so linux/{amd64,arm64} is one term, and
 * linux/amd64 + windows/arm64 is two, never admitting linux/arm64.
 */
export function platformTerms(platforms: readonly Platform[] | undefined): V1NodeSelectorTerm[] | undefined {
  const archesByOs = new Map<string, Set<string>>();
  for (const { os, arch } of platforms ?? []) {
    if (os === '' || arch === '' || os === 'unknown' || arch === 'unknown') continue;
    const arches = archesByOs.get(os) ?? new Set<string>();
    arches.add(arch);
    archesByOs.set(os, arches);
  }
  if (archesByOs.size === 0) return undefined;

  const groups = new Map<string, { oses: string[]; arches: string[] }>();
  for (const os of [...archesByOs.keys()].sort()) {
    const arches = [...(archesByOs.get(os) ?? [])].sort();
    const key = arches.join('\n');
    const group = groups.get(key) ?? { oses: [], arches };
    group.oses.push(os);
    groups.set(key, group);
  }
  return [...groups.values()].map(({ oses, arches }) => ({
    matchExpressions: [
      { key: OS_LABEL, operator: 'In', values: oses },
      { key: ARCH_LABEL, operator: 'In', values: arches },
    ],
  }));
}

/**
 * The affinity with the platform constraint added to its required node affinity; the
 * input is not modified. Required terms are OR-ed and a term's expressions AND-ed, so
 * "(user term 1 OR user term 2) AND (platform term a OR b)" becomes the cross product
 * "1a OR 1b OR 2a OR 2b". Preferred node affinity and pod (anti-)affinity are kept as they
 * are. A user term with no expressions and no fields matches no node; it stays that way.
 */
export function withPlatformAffinity(
  affinity: V1Affinity | undefined,
  platforms: readonly Platform[] | undefined,
): V1Affinity | undefined {
  const ours = platformTerms(platforms);
  if (ours === undefined) return affinity;
  const nodeAffinity = affinity?.nodeAffinity;
  const required = nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  const userTerms = required?.nodeSelectorTerms ?? [];
  const terms =
    userTerms.length === 0
      ? ours
      : userTerms.flatMap((term): V1NodeSelectorTerm[] => {
          const exprs = term.matchExpressions ?? [];
          if (exprs.length === 0 && (term.matchFields ?? []).length === 0) return [structuredClone(term)];
          return ours.map((p) => ({
            ...structuredClone(term),
            matchExpressions: [...structuredClone(exprs), ...structuredClone(p.matchExpressions ?? [])],
          }));
        });
  return {
    ...affinity,
    nodeAffinity: {
      ...nodeAffinity,
      requiredDuringSchedulingIgnoredDuringExecution: { ...required, nodeSelectorTerms: terms },
    },
  };
}
