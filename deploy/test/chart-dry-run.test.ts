// Every object the chart renders passes a server-side dry run on the test bed's
// kube-apiserver (RBAC on, v1.34): schema, defaulting and admission, cluster-scoped objects
// included, without anything being stored.
import { KubernetesObjectApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dryRun as dryRunOn } from './chart-dry-run.ts';
import {
  CONTAINER_AGENT_VALUES,
  type Manifest,
  PROVISIONER_VALUES,
  template,
  type ValuesInput,
} from './chart-render.ts';

const { kc, core } = testKube();
const api = KubernetesObjectApi.makeApiClient(kc);
let ns: Awaited<ReturnType<typeof tempNamespace>>;
const dryRun = (objects: readonly Manifest[]) => dryRunOn(api, objects);

beforeAll(async () => {
  ns = await tempNamespace(core, 'chart-dry-run');
});
afterAll(async () => {
  await ns?.cleanup();
});

const cases: [string, ValuesInput][] = [
  ['the default values', {}],
  [
    "both seeds' example values with every optional part on",
    {
      files: [CONTAINER_AGENT_VALUES, PROVISIONER_VALUES],
      values: {
        agent: {
          constraintChecker: { enable: true },
          podAnnotations: { team: 'ci' },
          resources: { limits: { cpu: 1 } },
        },
        'runner-api-sim': { enabled: true },
        nats: { persistence: { enabled: true } },
        redis: { persistence: { enabled: true } },
      },
    },
  ],
  [
    'the bundled NATS as a three-server cluster, with persistence and every service at three replicas',
    {
      files: [CONTAINER_AGENT_VALUES, PROVISIONER_VALUES],
      values: {
        agent: { replicaCount: 3, constraintChecker: { enable: true } },
        scheduler: { replicaCount: 3, pdb: { minAvailable: 2 } },
        gc: { replicaCount: 3 },
        constraints: { replicaCount: 3 },
        'vm-scaler': { replicaCount: 3 },
        nats: { cluster: { enabled: true }, persistence: { enabled: true } },
      },
    },
  ],
  [
    'customSecret, existingSecret and external NATS and Redis',
    {
      values: {
        agent: { customSecret: 'my-tokens', resourceClasses: { 'acme/small': null } },
        provisioner: { existingSecret: 'my-secret' },
        nats: { enabled: false, url: 'nats://nats.example:4222' },
        redis: { enabled: false, existingSecret: 'redis-creds' },
      },
    },
  ],
];

describe('server-side dry run on the test bed apiserver', () => {
  it.each(cases)('accepts every object rendered for %s', async (_what, input) => {
    const objects = await template(input, { namespace: ns.name });
    expect(objects.length).toBeGreaterThan(5);
    expect(await dryRun(objects)).toEqual([]);
  });

  it('is a real check: a Deployment whose selector misses its pod labels is refused', async () => {
    const objects = await template({}, { namespace: ns.name });
    const d = structuredClone(objects.find((o) => o.kind === 'Deployment')) as Manifest & {
      spec: { selector: { matchLabels: Record<string, string> } };
    };
    d.spec.selector.matchLabels = { 'app.kubernetes.io/component': 'elsewhere' };
    const [failure, ...more] = await dryRun([d]);
    expect(more).toEqual([]);
    expect(failure).toContain('selector');
  });

  it('stores nothing', async () => {
    const roles = await kc.makeApiClient(RbacAuthorizationV1Api).listNamespacedRole({ namespace: ns.name });
    expect(roles.items).toEqual([]);
  });
});
