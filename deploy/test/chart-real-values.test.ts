// A values file for CircleCI's real container-agent chart (every key of its values.yaml, in
// deploy/helm/examples/container-agent-all-keys.yaml) works unchanged: it lints, renders,
// passes a server-side dry run, gives a config the real loader accepts, and each key with a
// meaning for Longshore has its effect. Typos inside those keys are still refused.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dryRun } from './chart-dry-run.ts';
import {
  configText,
  EXAMPLES,
  find,
  lint,
  loadRendered,
  type Manifest,
  podTemplate,
  template,
  templateRaw,
  type ValuesInput,
} from './chart-render.ts';

const ALL_KEYS = `${EXAMPLES}/container-agent-all-keys.yaml`;
const REAL: ValuesInput = { files: [ALL_KEYS] };
const NAME = 'ls-longshore';
const AGENT_SIDE = ['claimer', 'scheduler', 'gc', 'constraints'] as const;

interface PodSpecExtras {
  dnsConfig?: { options?: { name: string; value?: string }[] };
}

function deployment(objects: readonly Manifest[], svc: string): Manifest {
  return find(objects, 'Deployment', `${NAME}-${svc}`);
}

describe("CircleCI's container-agent chart's values, every key", () => {
  it('lint clean (strict) and render', async () => {
    const l = await lint(REAL);
    expect(l.stdout + l.stderr).toContain('0 chart(s) failed');
    expect(l.code).toBe(0);
    const objects = await template(REAL);
    for (const o of objects) {
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], `${o.kind}/${o.metadata.name}`).toBe(
        'longshore',
      );
    }
  });

  it('give a config file the real loader accepts, with the chart keys mapped and the rest left out', async () => {
    const objects = await template(REAL);
    const cfg = await loadRendered(objects);
    expect(Object.keys(cfg.agent.resourceClasses).sort()).toEqual(['acme/linux-large', 'acme/linux-small']);
    expect(cfg.agent.maxRunTime).toBe(90 * 60_000);
    expect(cfg.agent.maxConcurrentTasks).toBe(8);
    expect(cfg.agent.name).toBe('acme-runner');
    expect(cfg.agent.autodetectPlatform).toBe(false);
    expect(cfg.agent.constraintChecker).toMatchObject({ enable: true, threshold: 2 });
    // agent.log.level, as logging.level is not set.
    expect(cfg.logging.level).toBe('debug');
    // orchestrator.image: the digest wins over the tag, sha256: added as CircleCI's chart does.
    expect(cfg.agent.taskPod.initImage).toBe(
      'registry.acme.test/mirror/runner-init@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
    );
    expect(cfg.agent.taskPod.loggingImage).toBe('registry.acme.test/mirror/logging-collector:3.1');
    // Deployment-only and not-used keys stay out of the services' config, and so do secrets.
    const text = configText(objects);
    for (const key of [
      'environment',
      'deploymentLabels',
      'serviceContainers',
      'ssh',
      'proxy',
      'orchestrator',
    ]) {
      expect(text).not.toContain(`${key}:`);
    }
    for (const token of ['acme-small-token', 'acme-large-token']) expect(text).not.toContain(token);
    expect(JSON.stringify(objects)).not.toContain('not-a-real-password');
  });

  it('agent.environment, deploymentAnnotations, deploymentLabels and dnsConfig reach the agent-side services', async () => {
    const objects = await template(REAL);
    for (const svc of AGENT_SIDE) {
      const d = deployment(objects, svc);
      expect(d.metadata.annotations, svc).toEqual({
        'acme.test/owner': 'platform-team',
        'acme.test/ticket': '4211',
      });
      expect(d.metadata.labels, svc).toMatchObject({
        'acme.test/cost-centre': 'ci',
        'app.kubernetes.io/component': svc,
      });
      const pod = podTemplate(d);
      const env = pod.spec.containers[0]?.env ?? [];
      expect(env.slice(0, 5).map((e) => e.name)).toEqual([
        'LONGSHORE_CONFIG',
        'NATS_URL',
        'REDIS_URL',
        'LONGSHORE_INSTANCE',
        'LONGSHORE_DEPLOYMENT',
      ]);
      expect(env.slice(5)).toEqual([
        { name: 'ACME_REGION', value: 'eu-west-1' },
        { name: 'ACME_RETRIES', value: '3' },
        { name: 'NODE_OPTIONS', value: '--max-old-space-size=512' },
      ]);
      expect((pod.spec as PodSpecExtras).dnsConfig).toEqual({ options: [{ name: 'ndots', value: '2' }] });
      // The pod label selector is the chart's: deploymentLabels do not touch it.
      expect((d.spec as { selector: unknown }).selector).toEqual({
        matchLabels: {
          'app.kubernetes.io/name': 'longshore',
          'app.kubernetes.io/instance': 'ls',
          'app.kubernetes.io/component': svc,
        },
      });
    }
  });

  it('serviceAccount.automountServiceAccountToken goes on the accounts; the pods keep their token', async () => {
    const objects = await template(REAL);
    for (const svc of AGENT_SIDE) {
      const sa = find(objects, 'ServiceAccount', `${NAME}-${svc}`);
      expect(sa.automountServiceAccountToken, svc).toBe(false);
      expect(sa.metadata.annotations).toEqual({ 'iam.acme.test/role': 'runner' });
      expect(podTemplate(deployment(objects, svc)).spec.automountServiceAccountToken, svc).toBe(true);
    }
    const dflt = await template();
    expect(find(dflt, 'ServiceAccount', `${NAME}-claimer`).automountServiceAccountToken).toBe(true);
  });

  it('rbac.role.rules extend the scheduler Role; rbac.clusterRole.rules make a ClusterRole bound to the scheduler', async () => {
    const objects = await template(REAL);
    expect(find(objects, 'Role', `${NAME}-scheduler`).rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'delete'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
    ]);
    const name = `${NAME}-scheduler-longshore`;
    expect(find(objects, 'ClusterRole', name).rules).toEqual([
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] },
    ]);
    expect(find(objects, 'ClusterRoleBinding', name).subjects).toEqual([
      { kind: 'ServiceAccount', name: `${NAME}-scheduler`, namespace: 'longshore' },
    ]);
    // The other services' Roles are untouched.
    expect(find(objects, 'Role', `${NAME}-claimer`).rules).toHaveLength(1);
    // Nothing extra by default: no scheduler ClusterRole, the scheduler Role as before.
    const dflt = await template();
    expect(dflt.filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
    expect(find(dflt, 'Role', `${NAME}-scheduler`).rules).toHaveLength(2);
  });

  it("logging.*: the logging account's name, annotations, token Secret, Role name and extra rules", async () => {
    const objects = await template(REAL);
    const sa = find(objects, 'ServiceAccount', 'acme-log-shipper');
    expect(sa.metadata.annotations).toEqual({ 'iam.acme.test/role': 'log-shipper' });
    const secret = find(objects, 'Secret', 'acme-log-shipper-token');
    expect(secret.type).toBe('kubernetes.io/service-account-token');
    expect(secret.metadata.annotations).toEqual({ 'kubernetes.io/service-account.name': 'acme-log-shipper' });
    const role = `${NAME}:acme-log-reader`;
    expect(find(objects, 'Role', role).rules).toEqual([
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    ]);
    expect(find(objects, 'RoleBinding', role)).toMatchObject({
      roleRef: { kind: 'Role', name: role },
      subjects: [{ kind: 'ServiceAccount', name: 'acme-log-shipper', namespace: 'longshore' }],
    });
    // The scheduler mounts that Secret in task pods' logging containers.
    expect((await loadRendered(objects)).agent.taskPod.loggingTokenSecret).toBe('acme-log-shipper-token');
    // Defaults: <fullname>-logging, and its token Secret <fullname>-logging-token.
    const dflt = await template();
    find(dflt, 'Role', `${NAME}-logging`);
    expect(find(dflt, 'Secret', `${NAME}-logging-token`).metadata.annotations).toEqual({
      'kubernetes.io/service-account.name': `${NAME}-logging`,
    });
    expect((await loadRendered(dflt)).agent.taskPod.loggingTokenSecret).toBe(`${NAME}-logging-token`);
    // An account the user manages and no Secret named: the pod's own account, nothing rendered.
    const own = await template({ values: { logging: { serviceAccount: { create: false } } } });
    expect(own.some((o) => o.kind === 'Secret' && o.type === 'kubernetes.io/service-account-token')).toBe(
      false,
    );
    expect((await loadRendered(own)).agent.taskPod.loggingTokenSecret).toBeUndefined();
  });

  it("agent.pdb sets the claimer's PodDisruptionBudget on its own pods; the other services keep their default", async () => {
    const objects = await template(REAL);
    const pdb = find(objects, 'PodDisruptionBudget', `${NAME}-claimer`);
    expect(pdb.spec).toEqual({
      minAvailable: 1,
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': 'longshore',
          'app.kubernetes.io/instance': 'ls',
          'app.kubernetes.io/component': 'claimer',
        },
      },
    });
    // Every other agent-side service runs two replicas by default, each with its own budget.
    for (const svc of ['scheduler', 'gc', 'constraints'])
      expect(find(objects, 'PodDisruptionBudget', `${NAME}-${svc}`).spec).toMatchObject({
        maxUnavailable: 1,
      });
    const pct = await template({ values: { agent: { pdb: { create: true, maxUnavailable: '50%' } } } });
    expect(find(pct, 'PodDisruptionBudget', `${NAME}-claimer`).spec).toMatchObject({ maxUnavailable: '50%' });
    const off = await template({ values: { agent: { pdb: { create: false } } } });
    expect(off.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === `${NAME}-claimer`)).toBe(
      false,
    );
    const both = await templateRaw({
      values: { agent: { pdb: { create: true, minAvailable: 1, maxUnavailable: 1 } } },
    });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('agent.pdb: set minAvailable or maxUnavailable, not both');
  });

  it('accepts proxy, ssh, serviceContainers, existingConfigMap and orchestrator.resources without using them', async () => {
    const objects = await template(REAL);
    const text = JSON.stringify(objects);
    expect(text).not.toContain('proxy.acme.test');
    expect(text).not.toContain('HTTP_PROXY');
    expect(text).not.toContain('registry.acme.test/postgres');
    expect(text).not.toContain('40000');
  });
});

describe('precedence between the chart keys and Longshore’s own', () => {
  it('logging.level beats agent.loggingLevel, which beats agent.log.level; "warning" is warn', async () => {
    const level = async (values: unknown) => (await loadRendered(await template({ values }))).logging.level;
    expect(await level({})).toBe('info');
    expect(await level({ agent: { log: { level: 'error' } } })).toBe('error');
    expect(await level({ agent: { log: { level: 'warning' } } })).toBe('warn');
    expect(await level({ agent: { log: { level: 'error' }, loggingLevel: 'debug' } })).toBe('debug');
    expect(await level({ agent: { log: { level: 'error' } }, logging: { level: 'trace' } })).toBe('trace');
  });

  it('agent.taskPod images beat orchestrator.image and logging.image; unset, the config defaults stay', async () => {
    const taskPod = async (values: unknown) => (await loadRendered(await template({ values }))).agent.taskPod;
    expect(await taskPod({})).toMatchObject({
      initImage: 'circleci/runner-init:agent',
      loggingImage: 'circleci/logging-collector:3',
    });
    expect(
      await taskPod({
        orchestrator: { image: { repository: 'acme/init', tag: 'v2' } },
        logging: { image: { repository: 'acme/log', tag: '' } },
      }),
    ).toMatchObject({ initImage: 'acme/init:v2', loggingImage: 'acme/log' });
    expect(
      await taskPod({ orchestrator: { image: { repository: 'acme/init', digest: 'sha512:abc' } } }),
    ).toMatchObject({ initImage: 'acme/init@sha512:abc' });
    expect(
      await taskPod({
        orchestrator: { image: { repository: 'acme/init', tag: 'v2' } },
        agent: { taskPod: { initImage: 'mine/init:1' } },
      }),
    ).toMatchObject({ initImage: 'mine/init:1' });
  });

  it('agent.environment may not replace the env the chart sets', async () => {
    const t = await templateRaw({ values: { agent: { environment: { NATS_URL: 'nats://elsewhere' } } } });
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain('agent.environment.NATS_URL: set by the chart, not overridable');
    // Nor who the pod is: two replicas must never share an instance name.
    const same = await templateRaw({ values: { agent: { environment: { LONGSHORE_INSTANCE: 'one' } } } });
    expect(same.stderr).toContain('agent.environment.LONGSHORE_INSTANCE: set by the chart, not overridable');
  });
});

describe('typos and wrong types inside the real chart keys are refused, naming the key', () => {
  it.each([
    [{ agent: { log: { levle: 'info' } } }, "at '/agent/log': additional properties 'levle' not allowed"],
    [
      { agent: { pdb: { minAvailble: 1 } } },
      "at '/agent/pdb': additional properties 'minAvailble' not allowed",
    ],
    [{ agent: { ssh: { numPort: 3 } } }, "at '/agent/ssh': additional properties 'numPort' not allowed"],
    [
      { agent: { serviceContainers: { exacts: {} } } },
      "at '/agent/serviceContainers': additional properties 'exacts' not allowed",
    ],
    [{ agent: { environment: { A: { b: 1 } } } }, "at '/agent/environment/A': got object, want"],
    [
      { orchestrator: { image: { digets: 'x' } } },
      "at '/orchestrator/image': additional properties 'digets' not allowed",
    ],
    [
      { serviceAccount: { automountServiceAccountToken: 'sometimes' } },
      "at '/serviceAccount/automountServiceAccountToken': got string, want boolean",
    ],
    [
      { rbac: { role: { rules: [{ verb: ['get'] }] } } },
      "at '/rbac/role/rules/0': additional properties 'verb' not allowed",
    ],
    [
      { rbac: { clusterRole: { nam: 'x' } } },
      "at '/rbac/clusterRole': additional properties 'nam' not allowed",
    ],
    [
      { logging: { serviceAccount: { secret: { nme: 'x' } } } },
      "at '/logging/serviceAccount/secret': additional properties 'nme' not allowed",
    ],
    [
      { logging: { rbac: { role: { rule: [] } } } },
      "at '/logging/rbac/role': additional properties 'rule' not allowed",
    ],
    [
      { proxy: { http: { auth: { usernme: 'u' } } } },
      "at '/proxy/http/auth': additional properties 'usernme' not allowed",
    ],
    [{ proxy: { https: { port: 'https' } } }, "at '/proxy/https/port'"],
    [{ proxy: { no_proxy: 'a,b' } }, "at '/proxy/no_proxy': got string, want"],
  ])('%j', async (values, expected) => {
    const t = await templateRaw({ values });
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain(expected);
  });
});

describe('server-side dry run on the test bed apiserver', () => {
  const { kc, core } = testKube();
  const api = KubernetesObjectApi.makeApiClient(kc);
  let ns: Awaited<ReturnType<typeof tempNamespace>>;
  beforeAll(async () => {
    ns = await tempNamespace(core, 'chart-real-values');
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  it('accepts every object rendered for the all-keys file', async () => {
    const objects = await template(REAL, { namespace: ns.name });
    expect(objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['PodDisruptionBudget', 'ClusterRole', 'Secret', 'Role']),
    );
    expect(await dryRun(api, objects)).toEqual([]);
  });
});
