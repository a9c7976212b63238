// The Helm chart's values.schema.json (deploy/helm/longshore), made from the config schema
// so the two cannot drift: every key the chart passes into the config file (agent.*,
// provisioner.*, logging.level, bus.*, redis.keyPrefix, http.port) takes its JSON Schema
// from zod (json-schema.ts); the keys only the chart reads (its Deployments, accounts,
// subcharts) are written here. Unlike the config file, the chart refuses every unknown key:
// a misspelt value is caught at `helm install`, naming its path, and the chart's own keys
// under `agent` are known here in full (they are AGENT_CHART_KEYS, checked below).

import { DOC_META_PREFIX, inputJsonSchema, type JsonSchema, withNull } from './json-schema.ts';
import { NODE_SELECTOR_FORM } from './pod-spec.ts';
import { AGENT_CHART_KEYS, LOGGING_CHART_KEYS, LongshoreConfig, TOP_LEVEL_CHART_KEYS } from './schema.ts';

/** The chart's schema and the config schema disagree on which keys exist. */
export class ChartSchemaError extends Error {
  override readonly name = 'ChartSchemaError';
}

// ---------------------------------------------------------------- building blocks

type Props = Record<string, JsonSchema>;

/** A mapping with exactly these keys; `nullable` where the chart's "unset" is null. */
function strict(properties: Props, opts: { nullable?: boolean; required?: string[] } = {}): JsonSchema {
  return {
    type: opts.nullable ? ['object', 'null'] : 'object',
    additionalProperties: false,
    properties,
    ...(opts.required ? { required: opts.required } : {}),
  };
}

const string: JsonSchema = { type: 'string' };
const stringOrNull: JsonSchema = { type: ['string', 'null'] };
const boolean: JsonSchema = { type: 'boolean' };
/** Any mapping, passed to Kubernetes as written (resources, affinity, annotations, ...). */
const mapping: JsonSchema = { type: ['object', 'null'] };
const list: JsonSchema = { type: ['array', 'null'] };
const tolerations: JsonSchema = { type: ['array', 'object', 'null'] };
const replicaCount: JsonSchema = { type: 'integer', minimum: 0 };
const port: JsonSchema = { type: 'integer', minimum: 1, maximum: 65535 };
const pullPolicy: JsonSchema = { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] };
/** Values that become env variables or labels: scalars only. */
const scalarMap = (description: string): JsonSchema => ({
  type: ['object', 'null'],
  additionalProperties: { type: ['string', 'number', 'boolean'] },
  description,
});

const image = (withPullPolicy: boolean, withDigest = true): JsonSchema =>
  strict({
    registry: string,
    repository: string,
    tag: string,
    ...(withDigest ? { digest: string } : {}),
    ...(withPullPolicy ? { pullPolicy } : {}),
  });

const imageOf = (withPullPolicy: boolean): JsonSchema =>
  strict({ repository: string, tag: string, ...(withPullPolicy ? { pullPolicy: string } : {}) });

/** An integer or a percentage, as a PodDisruptionBudget takes it. */
const budget: JsonSchema = { type: ['integer', 'string', 'null'], pattern: '^[0-9]+%?$', minimum: 0 };
const pdb = strict({ create: boolean, minAvailable: budget, maxUnavailable: budget }, { nullable: true });

const rbacRules: JsonSchema = {
  type: ['array', 'null'],
  items: strict(
    {
      apiGroups: { type: 'array', items: string },
      resources: { type: 'array', items: string },
      resourceNames: { type: 'array', items: string },
      nonResourceURLs: { type: 'array', items: string },
      verbs: { type: 'array', items: string, minItems: 1 },
    },
    { required: ['verbs'] },
  ),
};
const role = strict({ name: stringOrNull, rules: rbacRules });

/**
 * A node selector: a map of labels. Written as a string (CircleCI's FAQ's
 * `kubernetes.io/arch=amd64`), the only way to make Helm show the map form is a `const`
 * nobody can meet, whose text is the message.
 */
function nodeSelector(key: string): JsonSchema {
  return {
    if: { type: 'string' },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, never awaited.
    then: {
      const: `a map of node labels: ${key.replace(/nodeSelector$/, '')}${NODE_SELECTOR_FORM}, not the string kubernetes.io/arch=amd64`,
    },
    else: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
  };
}

/** Logging levels of the container-agent chart's agent.log.level and agent.loggingLevel. */
const CHART_LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', 'warning'];

const proxyTarget = strict({
  host: string,
  port: { type: ['integer', 'string'], minimum: 1, maximum: 65535, pattern: '^[0-9]+$' },
  auth: strict({ enabled: boolean, username: stringOrNull, password: stringOrNull }),
});

/** A Longshore service's Deployment settings (each service subchart). */
function service(opts: { replicas: boolean }): JsonSchema {
  return strict({
    enabled: boolean,
    ...(opts.replicas ? { replicaCount, pdb } : {}),
    resources: mapping,
    nodeSelector: mapping,
    tolerations,
    affinity: mapping,
    podAnnotations: mapping,
    global: mapping,
  });
}

/** A bundled store (the nats and redis subcharts), or yours by URL or Secret. */
function store(extra: Props): JsonSchema {
  return strict({
    enabled: boolean,
    url: string,
    existingSecret: string,
    existingSecretKey: string,
    ...extra,
    image: imageOf(true),
    persistence: strict({ enabled: boolean, size: string, storageClass: string }),
    resources: mapping,
    nodeSelector: mapping,
    tolerations: list,
    affinity: mapping,
    global: mapping,
  });
}

// ---------------------------------------------------------------- the chart's own keys

/** CircleCI's container-agent chart's keys under `agent` (AGENT_CHART_KEYS), as its values.yaml has them. */
const AGENT_CHART_PROPS: Props = {
  replicaCount,
  image: image(true),
  pullSecrets: list,
  matchLabels: mapping,
  deploymentAnnotations: scalarMap('annotations of the agent-side Deployments'),
  deploymentLabels: scalarMap('labels of the agent-side Deployments'),
  podAnnotations: mapping,
  podSecurityContext: mapping,
  containerSecurityContext: mapping,
  forceUpdate: { type: ['boolean', 'string', 'null'] },
  environment: scalarMap("env of the agent-side services' containers"),
  log: strict({
    level: { type: 'string', enum: CHART_LOG_LEVELS },
    format: { type: 'string', enum: ['text', 'color', 'json', 'none'] },
  }),
  loggingLevel: { type: ['string', 'null'], enum: [...CHART_LOG_LEVELS, null] },
  dnsConfig: strict(
    { ndots: { type: ['integer', 'string'], pattern: '^[0-9]+$', minimum: 0 } },
    { nullable: true },
  ),
  livenessProbe: mapping,
  readinessProbe: mapping,
  resources: mapping,
  nodeSelector: nodeSelector('agent.nodeSelector'),
  tolerations,
  affinity: mapping,
  pdb,
  existingConfigMap: stringOrNull,
  serviceContainers: strict({ exact: mapping, pattern: mapping, default: mapping }, { nullable: true }),
  ssh: strict(
    {
      enabled: boolean,
      controllerName: string,
      parametersRef: mapping,
      existingGatewayClassName: stringOrNull,
      startPort: port,
      numPorts: port,
    },
    { nullable: true },
  ),
  taskImagePullSecrets: list,
  serviceAccount: mapping,
  rbac: mapping,
  logging: mapping,
  nameOverride: string,
  fullnameOverride: string,
};

/** The container-agent chart's top-level `logging` keys (LOGGING_CHART_KEYS): its logging containers. */
const LOGGING_CHART_PROPS: Props = {
  image: image(false, false),
  serviceAccount: strict({
    create: boolean,
    name: string,
    annotations: mapping,
    secret: strict({ name: stringOrNull }, { nullable: true }),
  }),
  rbac: strict({ create: boolean, role }),
};

/** The seeds' top-level keys (TOP_LEVEL_CHART_KEYS). */
const TOP_LEVEL_CHART_PROPS: Props = {
  nameOverride: string,
  fullnameOverride: string,
  serviceAccount: strict({
    create: boolean,
    name: string,
    annotations: mapping,
    automountServiceAccountToken: boolean,
  }),
  rbac: strict({ create: boolean, role, clusterRole: role }),
  orchestrator: strict({ image: image(false), resources: mapping }),
  image: image(true),
  imagePullSecrets: list,
  proxy: strict(
    {
      enabled: boolean,
      http: proxyTarget,
      https: proxyTarget,
      no_proxy: { type: ['array', 'null'], items: string },
    },
    { nullable: true },
  ),
  global: strict({
    image: image(true),
    imagePullSecrets: list,
    podSecurityContext: mapping,
    containerSecurityContext: mapping,
  }),
};

/**
 * A scrape interval or timeout as prometheus-operator's CRDs take it (their Duration
 * pattern, which "" also meets: unset, Prometheus's default).
 */
const promDuration: JsonSchema = {
  type: 'string',
  pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$',
};
const monitorLabels = scalarMap('labels of the object, for the Prometheus or Grafana that selects it');

/** metrics.*: the opt-in ServiceMonitor, PodMonitor, PrometheusRule and dashboard ConfigMap. */
const METRICS_PROPS: Props = {
  serviceMonitor: strict({
    enabled: boolean,
    interval: promDuration,
    scrapeTimeout: promDuration,
    labels: monitorLabels,
  }),
  podMonitor: strict({
    enabled: boolean,
    interval: promDuration,
    scrapeTimeout: promDuration,
    labels: monitorLabels,
  }),
  prometheusRule: strict({ enabled: boolean, labels: monitorLabels }),
  grafanaDashboard: strict({
    enabled: boolean,
    // "" is the release's namespace.
    namespace: { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$', maxLength: 63 },
    labels: monitorLabels,
    annotations: scalarMap('annotations of the ConfigMap (grafana_folder, for the sidecar)'),
  }),
};

/** Longshore's chart: its services, the simulator, the bundled NATS, and the monitoring objects. */
const LONGSHORE_CHART_PROPS: Props = {
  claimer: service({ replicas: false }),
  scheduler: service({ replicas: true }),
  gc: service({ replicas: true }),
  constraints: service({ replicas: true }),
  'vm-scaler': service({ replicas: true }),
  'runner-api-sim': strict({
    enabled: boolean,
    port,
    classes: string,
    apiToken: string,
    logLevel: string,
    resources: mapping,
    global: mapping,
  }),
  'longshore-lib': mapping,
  nats: store({ cluster: strict({ enabled: boolean, replicas: { type: 'integer', enum: [3, 5] } }) }),
  metrics: strict(METRICS_PROPS),
};

/** The bundled Redis's keys beside the config's redis.keyPrefix. */
const REDIS_CHART_PROPS: Props = store({}).properties as Props;

// ---------------------------------------------------------------- assembly

/** The chart's values.schema.json, as an object. */
export function chartValuesSchema(): JsonSchema {
  const config = withoutDocMeta(inputJsonSchema(LongshoreConfig));
  const block = (name: string) => props(config, name);

  const agent = mapObjects(block('agent'), strictDeep);
  const classes = agent.resourceClasses as JsonSchema;
  const entry = props(classes.additionalProperties as JsonSchema);
  const agentProps: Props = {
    ...agent,
    resourceClasses: {
      ...classes,
      // `my-org/rc:` with nothing under it is a class whose token is in agent.customSecret.
      additionalProperties: strict(
        {
          ...entry,
          // Only the node selector of the Pod spec: the FAQ's string form deserves its message here.
          spec: {
            ...entry.spec,
            properties: { nodeSelector: nodeSelector('agent.resourceClasses.<class>.spec.nodeSelector') },
          },
        },
        { nullable: true },
      ),
    },
    // "" is the chart's unset: the release's namespace.
    namespace: allowEmpty(agent.namespace as JsonSchema),
    ...only(AGENT_CHART_PROPS, AGENT_CHART_KEYS, 'agent'),
  };

  const provisioner = mapObjects(block('provisioner'), strictDeep);
  const provisionerProps: Props = {
    ...provisioner,
    namespace: allowEmpty(provisioner.namespace as JsonSchema),
  };

  const logging = block('logging');
  const bus = block('bus');
  const redis = block('redis');
  const http = block('http');

  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Longshore umbrella chart values',
    description:
      'Generated by `npm run generate` from the config schema (libs/config/src/chart-schema.ts); do not edit.',
    type: 'object',
    additionalProperties: false,
    properties: {
      ...only(TOP_LEVEL_CHART_PROPS, TOP_LEVEL_CHART_KEYS, 'the top level'),
      agent: strict(agentProps),
      logging: strict({
        level: logging.level as JsonSchema,
        ...only(LOGGING_CHART_PROPS, LOGGING_CHART_KEYS, 'logging'),
      }),
      provisioner: strict(provisionerProps, { nullable: true }),
      ...LONGSHORE_CHART_PROPS,
      redis: strict({ ...REDIS_CHART_PROPS, keyPrefix: redis.keyPrefix as JsonSchema }),
      // The chart sets bus.url from nats.* and http.host itself.
      bus: strict({ prefix: bus.prefix as JsonSchema, replicas: bus.replicas as JsonSchema }),
      // A Service and a containerPort need a real port; 0 (any free port) is for tests.
      http: strict({ port: { ...(http.port as JsonSchema), minimum: 1 } }),
    },
  };
}

/** The properties of `schema` (or of its property `name`). */
function props(schema: JsonSchema, name?: string): Props {
  const target = name === undefined ? schema : (props(schema)[name] as JsonSchema | undefined);
  const properties = target?.properties;
  if (typeof properties !== 'object' || properties === null) {
    throw new ChartSchemaError(`the config schema has no block ${name ?? '(root)'}`);
  }
  return properties as Props;
}

/** `chartProps`, after checking that it names exactly `keys` (the config's list of chart keys). */
function only(chartProps: Props, keys: readonly string[], where: string): Props {
  const have = Object.keys(chartProps).sort();
  const want = [...keys].sort();
  if (have.join() !== want.join()) {
    throw new ChartSchemaError(
      `chart keys at ${where} differ from the config's list: schema has ${have.join(', ')}; config has ${want.join(', ')}`,
    );
  }
  return chartProps;
}

/** The config's mappings (blocks) refuse unknown keys in the chart; opaque mappings stay open. */
function strictDeep(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema };
  if (typeof out.properties === 'object' && out.properties !== null) {
    if (!('additionalProperties' in out)) out.additionalProperties = false;
    out.properties = mapObjects(out.properties as Props, strictDeep);
  }
  for (const key of ['items', 'additionalProperties'] as const) {
    const v = out[key];
    if (typeof v === 'object' && v !== null) out[key] = strictDeep(v as JsonSchema);
  }
  return out;
}

function mapObjects(p: Props, f: (s: JsonSchema) => JsonSchema): Props {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, f(v)]));
}

/** A pattern-checked string that may also be "" (and null). */
function allowEmpty(schema: JsonSchema): JsonSchema {
  const pattern = schema.pattern;
  if (typeof pattern !== 'string') return withNull(schema);
  return withNull({ ...schema, pattern: `^(${pattern.replace(/^\^/, '').replace(/\$$/, '')})?$` });
}

function withoutDocMeta(node: unknown): JsonSchema {
  return strip(node) as JsonSchema;
}

function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => !k.startsWith(DOC_META_PREFIX))
      .map(([k, v]) => [k, k === 'default' || k === 'enum' || k === 'const' ? v : strip(v)]),
  );
}
