// The fields of a resource class's pod spec (agent.resourceClasses.<rc>.spec) that
// Longshore reads itself before the apiserver sees them: the constraint checker's
// nodeName, nodeSelector, required node affinity, tolerations and containers[0]'s
// resources. The spec is the operator's own text, so it may be anything: config load
// rejects a malformed one with its key path, and the checker reads specs through this same
// schema so that a bad one fails that class's check instead of throwing. Every other Pod
// field passes through as written. Null counts as unset, as it does for Kubernetes.
import { z } from 'zod';
import { formatPath } from './errors.ts';

/** What a wrong value should have been; a missing required key must be set. */
function expected(what: string) {
  return (issue: { readonly input?: unknown }) => {
    if (issue.input === undefined) return 'must be set';
    const scalar = typeof issue.input === 'number' || typeof issue.input === 'boolean';
    return `must be ${what}${scalar && what === 'a string' ? ' (quote numbers and booleans)' : ''}`;
  };
}

const text = () => z.string({ error: expected('a string') });

const StringMap = z.record(z.string(), text(), { error: expected('a map of strings') });

export const NODE_SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] as const;

const Requirements = z
  .array(
    z.looseObject(
      {
        key: text(),
        operator: z.enum(NODE_SELECTOR_OPERATORS, {
          error: expected(`one of ${NODE_SELECTOR_OPERATORS.join(', ')}`),
        }),
        values: z.array(text(), { error: expected('a list of strings') }).nullish(),
      },
      { error: expected('a mapping with key, operator and values') },
    ),
    { error: expected('a list of node selector requirements') },
  )
  .nullish();

const NodeSelectorTerm = z.looseObject(
  { matchExpressions: Requirements, matchFields: Requirements },
  { error: expected('a mapping with matchExpressions and/or matchFields') },
);

// Kubernetes takes "" for Equal and for every effect.
const Toleration = z.looseObject(
  {
    key: text().nullish(),
    operator: z.enum(['Equal', 'Exists', ''], { error: expected('Equal or Exists') }).nullish(),
    value: text().nullish(),
    effect: z
      .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute', ''], {
        error: expected('NoSchedule, PreferNoSchedule or NoExecute'),
      })
      .nullish(),
  },
  { error: expected('a mapping with key, operator, value and effect') },
);

const Quantities = z.record(
  z.string(),
  z.union([z.string(), z.number()], { error: expected('a quantity such as "500m", "2Gi" or 4') }),
  { error: expected('a map of resource names to quantities') },
);

const Container = z.looseObject(
  {
    resources: z
      .looseObject(
        { requests: Quantities.nullish(), limits: Quantities.nullish() },
        { error: expected('a mapping with requests and/or limits') },
      )
      .nullish(),
  },
  { error: expected('a mapping (a container)') },
);

const mapping = <S extends z.ZodRawShape>(shape: S) =>
  z.looseObject(shape, { error: expected('a mapping') }).nullish();

/** The scheduling fields of a Pod spec, shape-checked; any other field is kept as written. */
export const PodSchedulingFields = z.looseObject(
  {
    nodeName: text().nullish(),
    nodeSelector: StringMap.nullish(),
    affinity: mapping({
      nodeAffinity: mapping({
        requiredDuringSchedulingIgnoredDuringExecution: mapping({
          nodeSelectorTerms: z
            .array(NodeSelectorTerm, { error: expected('a list of node selector terms') })
            .nullish(),
        }),
      }),
    }),
    tolerations: z.array(Toleration, { error: expected('a list of tolerations') }).nullish(),
    containers: z.array(Container, { error: expected('a list of containers') }).nullish(),
  },
  { error: expected('a mapping of Pod spec fields') },
);
export type PodSchedulingFields = z.output<typeof PodSchedulingFields>;

/**
 * How a node selector is written, for the message about one that is not a map. CircleCI's
 * FAQ (seed 001) shows `nodeSelector:` over the line `kubernetes.io/arch=amd64`, which YAML
 * reads as a string: the kubectl `--selector` form, not the map a Pod takes.
 */
export const NODE_SELECTOR_FORM = 'nodeSelector: {kubernetes.io/arch: amd64}';

/** One malformed field: its path below the spec, and what it must be. */
export interface PodSpecProblem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

export type PodSchedulingRead =
  | { readonly ok: true; readonly spec: PodSchedulingFields }
  | { readonly ok: false; readonly problems: readonly PodSpecProblem[] };

/** Reads a pod spec's scheduling fields; unset (undefined or null) is an empty spec. */
export function readPodScheduling(spec: unknown): PodSchedulingRead {
  const result = PodSchedulingFields.safeParse(spec ?? {});
  if (result.success) return { ok: true, spec: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((i) => ({ path: i.path, message: i.message })),
  };
}

/** A problem as one phrase: `spec.nodeSelector must be a map of strings`. */
export function describePodSpecProblem(p: PodSpecProblem): string {
  return `${formatPath(['spec', ...p.path])} ${p.message}`;
}
