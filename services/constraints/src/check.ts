// Can a resource class's task pod be scheduled on the live nodes? A funnel, in the order
// the Kubernetes scheduler filters: usable nodes (Ready, schedulable) -> nodeName ->
// nodeSelector -> required node affinity -> NoSchedule/NoExecute taints -> requests vs
// allocatable. The step that leaves no node names the reason, in words an operator can act
// on. The image's OS/arch is not known per class (tasks bring their images): spec-level
// kubernetes.io/os and kubernetes.io/arch constraints are covered by the selector steps.
// The spec is the operator's config and is read through @longshore/config's shape check
// first, so a malformed field fails that class's check, naming the field, and never throws.
import type { V1Node } from '@kubernetes/client-node';
import { describePodSpecProblem, type PodSchedulingFields, readPodScheduling } from '@longshore/config';
import { parseQuantity, QuantityError } from './quantity.ts';

export type CheckResult = { ok: true } | { ok: false; reason: string };

// Null is unset, as in Kubernetes (and in the shape check).
interface Requirement {
  key: string;
  operator: string;
  values?: readonly string[] | null;
}
interface Term {
  matchExpressions?: readonly Requirement[] | null;
  matchFields?: readonly Requirement[] | null;
}
interface Toleration {
  key?: string | null;
  operator?: string | null;
  value?: string | null;
  effect?: string | null;
}
interface Taint {
  key: string;
  value?: string;
  effect: string;
}

const nameOf = (n: V1Node): string => n.metadata?.name ?? '';
const labelsOf = (n: V1Node): Record<string, string> => n.metadata?.labels ?? {};

/** A node counts only when it is Ready and not cordoned. */
export function isUsable(n: V1Node): boolean {
  if (n.spec?.unschedulable) return false;
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function checkConstraints(
  spec: Record<string, unknown> | undefined,
  nodes: readonly V1Node[],
): CheckResult {
  const read = readPodScheduling(spec);
  if (!read.ok) return fail(read.problems.map(describePodSpecProblem).join('; '));
  const s = read.spec;
  const checked = nodes.length;
  let left = nodes.filter(isUsable);
  if (left.length === 0) {
    const cordoned = nodes.filter((n) => n.spec?.unschedulable).length;
    return fail(
      `no node is Ready and schedulable (${checked} nodes checked: ${cordoned} unschedulable, ` +
        `${checked - cordoned} of the rest NotReady)`,
    );
  }
  const usable = left.length;

  if (s.nodeName) {
    const named = nodes.find((n) => nameOf(n) === s.nodeName);
    left = left.filter((n) => nameOf(n) === s.nodeName);
    if (left.length === 0)
      return fail(
        named
          ? `nodeName ${s.nodeName} is not Ready or is unschedulable`
          : `nodeName ${s.nodeName} is not a node of the cluster (${checked} nodes checked)`,
      );
  }

  const selector = Object.entries(s.nodeSelector ?? {});
  if (selector.length > 0) {
    const before = left;
    left = left.filter((n) => selector.every(([k, v]) => labelsOf(n)[k] === v));
    if (left.length === 0) {
      const counts = selector.map(
        ([k, v]) => `${before.filter((n) => labelsOf(n)[k] === v).length} have ${k}=${v}`,
      );
      const wanted = selector.map(([k, v]) => `${k}=${v}`).join(',');
      return fail(
        `no node matches nodeSelector ${wanted} (${before.length} nodes checked: ${counts.join(', ')})`,
      );
    }
  }

  const terms =
    s.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  if (terms.length > 0) {
    const before = left;
    left = left.filter((n) => terms.some((t) => termMatches(t, n)));
    if (left.length === 0) {
      const why = terms.map((t, i) => {
        const parts = [
          ...(t.matchExpressions ?? []).map((r) => ({
            r,
            m: (n: V1Node) => requirementMatches(r, labelsOf(n)[r.key]),
          })),
          ...(t.matchFields ?? []).map((r) => ({ r, m: (n: V1Node) => fieldMatches(r, n) })),
        ].map(({ r, m }) => `${describe(r)} matches ${before.filter(m).length}`);
        return `term ${i + 1}: ${parts.length ? parts.join(', ') : 'empty (matches nothing)'}`;
      });
      return fail(
        `no node matches the required node affinity (${before.length} nodes checked; ${why.join('; ')})`,
      );
    }
  }
  const selected = s.nodeName || selector.length > 0 || terms.length > 0;
  const which = selected ? 'nodes matching the selector' : 'Ready nodes';

  const tolerations = s.tolerations ?? [];
  const before = left;
  left = left.filter((n) => untolerated(n, tolerations).length === 0);
  if (left.length === 0) {
    const taints = [...new Set(before.flatMap((n) => untolerated(n, tolerations).map(taintText)))];
    return fail(
      `${which} are all tainted ${taints.join(', ')}, which the class does not tolerate ` +
        `(${before.length} of ${usable} usable nodes)`,
    );
  }

  const requests = requestsOf(s);
  if (typeof requests === 'string') return fail(requests);
  if (requests.length > 0) {
    const fits = (n: V1Node) => requests.every(([name, want]) => allocatable(n, name) >= want);
    const candidates = left;
    left = left.filter(fits);
    if (left.length === 0) {
      const wanted = requests.map(([name, , raw]) => `${name}=${raw}`).join(', ');
      const most = requests
        .map(([name]) => `${name}=${fmt(Math.max(...candidates.map((n) => allocatable(n, name))))}`)
        .join(', ');
      return fail(
        `no node has allocatable resources for the requests ${wanted} ` +
          `(${candidates.length} ${which} that tolerate their taints; most allocatable: ${most})`,
      );
    }
  }
  return { ok: true };
}

function fail(reason: string): CheckResult {
  return { ok: false, reason };
}

function termMatches(t: Term, n: V1Node): boolean {
  const exprs = t.matchExpressions ?? [];
  const fields = t.matchFields ?? [];
  // As in Kubernetes: a term with no requirements matches no node.
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = labelsOf(n);
  return exprs.every((r) => requirementMatches(r, labels[r.key])) && fields.every((r) => fieldMatches(r, n));
}

function fieldMatches(r: Requirement, n: V1Node): boolean {
  // metadata.name is the only field the scheduler supports in matchFields.
  return r.key === 'metadata.name' && requirementMatches(r, nameOf(n));
}

/** One node selector requirement against a label's value (undefined: the label is absent). */
export function requirementMatches(r: Requirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const have = toInt(value);
      const bound = toInt(values[0]);
      if (have === undefined || bound === undefined) return false;
      return r.operator === 'Gt' ? have > bound : have < bound;
    }
    default:
      return false;
  }
}

function toInt(s: string | undefined): number | undefined {
  return s !== undefined && /^[+-]?\d+$/.test(s.trim()) ? Number(s) : undefined;
}

function describe(r: Requirement): string {
  const values = r.values ?? [];
  if (r.operator === 'Exists' || r.operator === 'DoesNotExist') return `${r.key} ${r.operator}`;
  if (r.operator === 'Gt' || r.operator === 'Lt') return `${r.key} ${r.operator} ${values[0] ?? '?'}`;
  return `${r.key} ${r.operator} [${values.join(',')}]`;
}

/** The node's NoSchedule/NoExecute taints that no toleration covers. */
export function untolerated(n: V1Node, tolerations: readonly Toleration[]): Taint[] {
  const taints = (n.spec?.taints ?? []) as Taint[];
  return taints.filter(
    (t) =>
      (t.effect === 'NoSchedule' || t.effect === 'NoExecute') &&
      !tolerations.some((tol) => tolerates(tol, t)),
  );
}

function tolerates(tol: Toleration, t: Taint): boolean {
  if (tol.effect && tol.effect !== t.effect) return false;
  const op = tol.operator ?? 'Equal';
  // An empty key with Exists tolerates every taint.
  if (!tol.key) return op === 'Exists';
  if (tol.key !== t.key) return false;
  return op === 'Exists' || (tol.value ?? '') === (t.value ?? '');
}

function taintText(t: Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}

/** containers[0]'s requests (limits stand in for unset requests, as in Kubernetes). */
function requestsOf(s: PodSchedulingFields): [string, number, string][] | string {
  const res = s.containers?.[0]?.resources;
  const merged = { ...(res?.limits ?? {}), ...(res?.requests ?? {}) };
  const out: [string, number, string][] = [];
  for (const [name, raw] of Object.entries(merged)) {
    try {
      out.push([name, parseQuantity(raw), String(raw)]);
    } catch (err) {
      if (err instanceof QuantityError)
        return `the class's container requests ${name}=${String(raw)}: ${err.message}`;
      throw err;
    }
  }
  return out;
}

function allocatable(n: V1Node, name: string): number {
  const raw = n.status?.allocatable?.[name];
  if (raw === undefined) return 0;
  try {
    return parseQuantity(raw);
  } catch {
    return 0;
  }
}

function fmt(n: number): string {
  if (n >= 2 ** 30) return `${Number((n / 2 ** 30).toFixed(2))}Gi`;
  if (n >= 2 ** 20) return `${Number((n / 2 ** 20).toFixed(2))}Mi`;
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3)));
}
