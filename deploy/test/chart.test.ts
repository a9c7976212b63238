// The umbrella chart, rendered by the real helm: it lints and renders for the default
// values and the seeds' example values, rejects typos naming the key, and renders what the
// services read, checked with the services' own code (the config loader, the claimer's
// token lookup, the provisioner Secret parser, the vm-scaler's pool names).

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageNodeOptions, programPath } from '@longshore/build';
import { configWarnings, parseProvisionerSecret, provisionerClasses } from '@longshore/config';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { resolveTokens } from '../../services/claimer/src/tokens.ts';
import { poolNameFor } from '../../services/vm-scaler/src/vm-pool.ts';
import {
  CHART,
  CONTAINER_AGENT_VALUES,
  configText,
  find,
  helm,
  lint,
  loadRendered,
  type Manifest,
  PROVISIONER_VALUES,
  podTemplate,
  secretData,
  template,
  templateRaw,
  type ValuesInput,
} from './chart-render.ts';
import { REPO } from './docker-model.ts';

const SERVICES = ['claimer', 'scheduler', 'gc', 'constraints', 'vm-scaler'] as const;
const BOTH_SEEDS: ValuesInput = { files: [CONTAINER_AGENT_VALUES, PROVISIONER_VALUES] };
// Release "ls" in namespace "longshore": objects are named ls-longshore-<service>.
const NAME = 'ls-longshore';

function annotation(objects: readonly Manifest[], svc: string, key: string): string | undefined {
  return podTemplate(find(objects, 'Deployment', `${NAME}-${svc}`)).metadata.annotations?.[key];
}

function rules(objects: readonly Manifest[], kind: 'Role' | 'ClusterRole', name: string): unknown {
  return find(objects, kind, name).rules;
}

describe('helm lint and helm template', () => {
  const cases: [string, ValuesInput][] = [
    ['the default values', {}],
    ["seed 000's example values (container-agent)", { files: [CONTAINER_AGENT_VALUES] }],
    ["seed 002's example values (Runner Provisioner)", { files: [PROVISIONER_VALUES] }],
    ['both seeds at once', BOTH_SEEDS],
  ];

  it.each(cases)('pass for %s, and every object carries the common labels', async (_what, input) => {
    const l = await lint(input);
    expect(l.stdout + l.stderr).toContain('0 chart(s) failed');
    expect(l.code).toBe(0);
    const objects = await template(input);
    expect(objects.length).toBeGreaterThan(5);
    for (const o of objects) {
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        'app.kubernetes.io/instance': 'ls',
        'app.kubernetes.io/part-of': 'longshore',
      });
      expect(o.metadata.labels?.['app.kubernetes.io/name']).toBeTruthy();
      expect(o.metadata.labels?.['app.kubernetes.io/component']).toBeTruthy();
    }
  });

  it('renders the vm-scaler only when the values configure a provisioner', async () => {
    const agentOnly = await template({ files: [CONTAINER_AGENT_VALUES] });
    expect(agentOnly.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name)).toEqual(
      ['claimer', 'scheduler', 'gc', 'constraints'].map((s) => `${NAME}-${s}`),
    );
    const both = await template(BOTH_SEEDS);
    expect(find(both, 'Deployment', `${NAME}-vm-scaler`)).toBeDefined();
  });

  it('fails on a misspelt key, naming it (helm lint and helm template)', async () => {
    const typo = { values: { agent: { maxConcurentTasks: 5 } } };
    const expected = "- at '/agent': additional properties 'maxConcurentTasks' not allowed";
    const l = await lint(typo);
    expect(l.code).not.toBe(0);
    expect(l.stdout + l.stderr).toContain(expected);
    const t = await templateRaw(typo);
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain(expected);
  });

  it('fails on misspelt keys at any depth and on wrong types, naming each', async () => {
    const t = await templateRaw({
      values: {
        agent: { resourceClasses: { 'a/b': { tokn: 'x' } }, maxRunTime: 5 },
        provisioner: { resourceClass: { name: 'a/b', minReplica: 1 } },
        servceAccount: { create: true },
      },
    });
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain("at '/agent/resourceClasses/a~1b': additional properties 'tokn' not allowed");
    expect(t.stderr).toContain("at '/agent/maxRunTime': got number, want string");
    expect(t.stderr).toContain(
      "at '/provisioner/resourceClass': additional properties 'minReplica' not allowed",
    );
    expect(t.stderr).toContain("at '': additional properties 'servceAccount' not allowed");
  });

  it("fails on the FAQ's nodeSelector written as a string, naming the key and showing the map form", async () => {
    const t = await templateRaw({
      values: {
        agent: {
          resourceClasses: {
            'acme/small': { token: 'x', spec: { nodeSelector: 'kubernetes.io/arch=amd64' } },
          },
        },
      },
    });
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain(
      "at '/agent/resourceClasses/acme~1small/spec/nodeSelector': value must be 'a map of node labels: " +
        "agent.resourceClasses.<class>.spec.nodeSelector: {kubernetes.io/arch: amd64}, not the string kubernetes.io/arch=amd64'",
    );
    const agentLevel = await templateRaw({ values: { agent: { nodeSelector: 'kubernetes.io/arch=amd64' } } });
    expect(agentLevel.stderr).toContain(
      "at '/agent/nodeSelector': value must be 'a map of node labels: agent.nodeSelector: {kubernetes.io/arch: amd64}",
    );
    // The map form passes, and a value that is not a string is named too.
    const map = { 'acme/small': { token: 'x', spec: { nodeSelector: { 'kubernetes.io/arch': 'amd64' } } } };
    expect((await templateRaw({ values: { agent: { resourceClasses: map } } })).code).toBe(0);
    const bool = { 'acme/small': { token: 'x', spec: { nodeSelector: { ssd: true } } } };
    expect((await templateRaw({ values: { agent: { resourceClasses: bool } } })).stderr).toContain(
      "at '/agent/resourceClasses/acme~1small/spec/nodeSelector/ssd': got boolean, want string",
    );
  });

  it('fails when a resource class has no token and no customSecret holds it', async () => {
    const t = await templateRaw({ values: { agent: { resourceClasses: { 'acme/small': {} } } } });
    expect(t.code).not.toBe(0);
    expect(t.stderr).toContain(
      'agent.resourceClasses["acme/small"].token: required (or set agent.customSecret',
    );
  });
});

describe('helm package', () => {
  it('packages the chart and its subcharts without editor, VCS or trial files (.helmignore)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'longshore-package-'));
    try {
      const chart = join(dir, 'longshore');
      await cp(CHART, chart, { recursive: true });
      const junk = [
        'values.yaml.swp',
        '.git/HEAD',
        'my.test.yaml',
        'charts/nats/values.yaml~',
        '.vscode/settings.json',
      ];
      for (const f of junk) {
        await mkdir(join(chart, f, '..'), { recursive: true });
        await writeFile(join(chart, f), 'junk\n');
      }
      const packed = await helm(['package', chart, '--destination', dir]);
      expect(packed.code, packed.stderr).toBe(0);
      const archive = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
      expect(archive).toBeDefined();
      const listed = spawnSync('tar', ['-tzf', join(dir, archive!)], { encoding: 'utf8' });
      const entries = listed.stdout.split('\n').filter(Boolean);
      expect(entries).toContain('longshore/values.schema.json');
      expect(entries).toContain('longshore/charts/nats/Chart.yaml');
      for (const f of junk) expect(entries, f).not.toContain(`longshore/${f}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('what the services read', () => {
  it('the config file is accepted by the config loader and says what the values say', async () => {
    const cfg = await loadRendered(await template(BOTH_SEEDS));
    expect(Object.keys(cfg.agent.resourceClasses)).toEqual([
      'circleci-runner/resourceClass',
      'circleci-runner/resourceClass2',
    ]);
    expect(cfg.agent.resourceClasses['circleci-runner/resourceClass']?.metadata).toEqual({
      annotations: { 'custom.io': 'my-annotation' },
    });
    expect(cfg.agent.customSecret).toBe(`${NAME}-tokens`);
    expect(cfg.agent.namespace).toBe('longshore');
    expect(cfg.kube.namespace).toBe('longshore');
    expect(cfg.agent.maxRunTime).toBe(5 * 3_600_000);
    expect(cfg.agent.terminationGracePeriodSeconds).toBe(18300);
    expect(cfg.agent.runnerAPI).toBe('https://runner.circleci.com');
    expect(cfg.provisioner?.existingSecret).toBe(`${NAME}-provisioner`);
    expect(cfg.provisioner?.resourceClass).toMatchObject({
      name: 'my-org/my-runner',
      minReplicas: 3,
      maxReplicas: 10,
    });
    expect(cfg.http.port).toBe(8080);
  });

  it('the default values give a config the loader accepts', async () => {
    const cfg = await loadRendered(await template());
    expect(cfg.agent.resourceClasses).toEqual({});
    expect(cfg.provisioner).toBeUndefined();
  });

  it("takes seed 000's own GC keys (kubeGCEnabled, kubeGCThreshold), and drops the GC's Role when it is off", async () => {
    const objects = await template({ values: { agent: { kubeGCEnabled: false, kubeGCThreshold: '6h' } } });
    const cfg = await loadRendered(objects);
    expect(cfg.agent.gc).toMatchObject({ enabled: false, threshold: 6 * 3_600_000 });
    expect(objects.some((o) => o.kind === 'Role' && o.metadata.name === `${NAME}-gc`)).toBe(false);
    const on = await template({ values: { agent: { gc: { threshold: '6h' } } } });
    expect((await loadRendered(on)).agent.gc).toMatchObject({ enabled: true, threshold: 6 * 3_600_000 });
    find(on, 'Role', `${NAME}-gc`);
  });

  it("takes both spellings of a GC setting as CircleCI's chart does: kubeGC* wins, the services start with a warning", async () => {
    const objects = await template({
      values: {
        agent: { kubeGCEnabled: false, kubeGCThreshold: '7h', gc: { enabled: true, threshold: '6h' } },
      },
    });
    const cfg = await loadRendered(objects);
    expect(cfg.agent.gc).toMatchObject({ enabled: false, threshold: 7 * 3_600_000 });
    expect(configWarnings(cfg)).toEqual([
      expect.stringContaining('agent.kubeGCEnabled (false) and agent.gc.enabled (true) are both set'),
      expect.stringContaining('agent.kubeGCThreshold (7h) and agent.gc.threshold (6h) are both set'),
    ]);
    expect(objects.some((o) => o.kind === 'Role' && o.metadata.name === `${NAME}-gc`)).toBe(false);
  });

  it('keeps every token out of the ConfigMap', async () => {
    const text = configText(await template(BOTH_SEEDS));
    for (const secret of ['TOKEN1', 'TOKEN2', 'your-runner-token', 'your-circle-api-token']) {
      expect(text).not.toContain(secret);
    }
  });

  it("the claimer finds every class's token in the rendered Secret (keys <namespace>.<name>)", async () => {
    const objects = await template(BOTH_SEEDS);
    const cfg = await loadRendered(objects);
    const secret = find(objects, 'Secret', `${NAME}-tokens`);
    expect(Object.keys(secretData(secret)).sort()).toEqual([
      'circleci-runner.resourceClass',
      'circleci-runner.resourceClass2',
    ]);
    const tokens = await resolveTokens(cfg.agent.resourceClasses, cfg.agent.customSecret, async (name) =>
      name === secret.metadata.name ? secretData(secret) : undefined,
    );
    expect(tokens).toEqual({
      'circleci-runner/resourceClass': 'TOKEN1',
      'circleci-runner/resourceClass2': 'TOKEN2',
    });
  });

  it('the vm-scaler reads its classes and tokens from the rendered provisioner Secret', async () => {
    const objects = await template(BOTH_SEEDS);
    const cfg = await loadRendered(objects);
    const secret = find(objects, 'Secret', `${NAME}-provisioner`);
    const parsed = parseProvisionerSecret(secretData(secret), secret.metadata.name);
    expect(parsed.circleToken).toBe('your-circle-api-token');
    const [only, ...rest] = provisionerClasses(cfg, parsed);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({
      name: 'my-org/my-runner',
      token: 'your-runner-token',
      minReplicas: 3,
      maxReplicas: 10,
    });
    expect(only?.spec).toMatchObject({ domain: { resources: { requests: { memory: '2Gi', cpu: '1' } } } });
  });

  it('agent.customSecret: no token Secret is rendered and the claimer may read only that Secret', async () => {
    // Seed 000's custom-secret example: a class with no settings is an empty (null) entry.
    const objects = await template({
      values: {
        agent: {
          customSecret: 'my-tokens',
          resourceClasses: {
            'circleci-runner/resourceClass': { metadata: { annotations: { 'custom.io': 'x' } } },
            'circleci-runner/resourceClass2': null,
          },
        },
      },
    });
    // Only the logging account's token Secret, which holds no resource class token.
    expect(objects.filter((o) => o.kind === 'Secret').map((o) => o.type)).toEqual([
      'kubernetes.io/service-account-token',
    ]);
    expect((await loadRendered(objects)).agent.customSecret).toBe('my-tokens');
    expect(rules(objects, 'Role', `${NAME}-claimer`)).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['my-tokens'], verbs: ['get'] },
    ]);
  });

  it("provisioner.existingSecret: no provisioner Secret is rendered; the vm-scaler reads the user's", async () => {
    const objects = await template({
      values: { provisioner: { existingSecret: 'my-secret', resourceClass: { name: 'my-org/my-runner' } } },
    });
    expect(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual([
      `${NAME}-logging-token`,
      `${NAME}-tokens`,
    ]);
    expect((await loadRendered(objects)).provisioner?.existingSecret).toBe('my-secret');
    const get = (
      rules(objects, 'Role', `${NAME}-vm-scaler`) as { verbs: string[]; resourceNames?: string[] }[]
    )[0];
    expect(get).toMatchObject({ verbs: ['get'] });
    expect(get?.resourceNames).toContain('my-secret');
  });

  it('a config change changes checksum/config, so every service rolls; a token change rolls the claimer', async () => {
    const before = await template(BOTH_SEEDS);
    const again = await template(BOTH_SEEDS);
    const changed = await template({ ...BOTH_SEEDS, values: { agent: { maxConcurrentTasks: 7 } } });
    const newToken = await template({
      ...BOTH_SEEDS,
      values: { agent: { resourceClasses: { 'circleci-runner/resourceClass': { token: 'TOKEN1b' } } } },
    });
    for (const svc of SERVICES) {
      const was = annotation(before, svc, 'checksum/config');
      expect(was).toMatch(/^[0-9a-f]{64}$/);
      expect(annotation(again, svc, 'checksum/config')).toBe(was);
      expect(annotation(changed, svc, 'checksum/config'), svc).not.toBe(was);
      expect(annotation(newToken, svc, 'checksum/config'), svc).toBe(was);
    }
    expect(annotation(newToken, 'claimer', 'checksum/secret')).not.toBe(
      annotation(before, 'claimer', 'checksum/secret'),
    );
    expect(annotation(before, 'vm-scaler', 'checksum/secret')).toMatch(/^[0-9a-f]{64}$/);
  });
});

// The image's V8 flags with the old generation sized for the chart's default memory limit.
const DEFAULT_NODE_OPTIONS = imageNodeOptions().replace(
  /--max-old-space-size=\d+/,
  '--max-old-space-size=160',
);

describe('Deployments', () => {
  it('give every service default resources from the measured figures, and V8 flags that fit them', async () => {
    expect(DEFAULT_NODE_OPTIONS).not.toBe(imageNodeOptions());
    const objects = await template(BOTH_SEEDS);
    for (const svc of SERVICES) {
      const c = podTemplate(find(objects, 'Deployment', `${NAME}-${svc}`)).spec.containers[0];
      expect(c?.resources, svc).toEqual({
        requests: { cpu: '100m', memory: '128Mi' },
        limits: { memory: '256Mi' },
      });
      expect(c?.env, svc).toContainEqual({ name: 'NODE_OPTIONS', value: DEFAULT_NODE_OPTIONS });
    }
  });

  it("keeps the user's resources and NODE_OPTIONS, and then sets no flags of its own", async () => {
    const mine = { limits: { memory: '1Gi' }, requests: { cpu: '250m', memory: '512Mi' } };
    const objects = await template({
      files: [CONTAINER_AGENT_VALUES],
      values: {
        scheduler: { resources: mine },
        agent: { environment: { NODE_OPTIONS: '--max-old-space-size=700' } },
      },
    });
    const container = (svc: string) =>
      podTemplate(find(objects, 'Deployment', `${NAME}-${svc}`)).spec.containers[0];
    expect(container('scheduler')?.resources).toEqual(mine);
    for (const svc of ['claimer', 'scheduler', 'gc']) {
      const options = container(svc)?.env?.filter((e: { name: string }) => e.name === 'NODE_OPTIONS');
      expect(options, svc).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=700' }]);
    }
  });

  it('run node dist/<svc>.mjs (its bundle) from the one image, with the config, probes and a locked-down pod', async () => {
    const objects = await template(BOTH_SEEDS);
    for (const svc of SERVICES) {
      const pod = podTemplate(find(objects, 'Deployment', `${NAME}-${svc}`));
      const [c, ...more] = pod.spec.containers;
      expect(more).toEqual([]);
      expect(c?.image).toBe('ghcr.io/longshore/longshore:0.1.0');
      expect(c?.command).toEqual(['node', programPath(svc)]);
      expect(c?.env).toEqual([
        { name: 'LONGSHORE_CONFIG', value: '/etc/longshore/config.yaml' },
        { name: 'NATS_URL', value: 'nats://ls-nats.longshore.svc:4222' },
        { name: 'REDIS_URL', value: 'redis://ls-redis.longshore.svc:6379' },
        { name: 'LONGSHORE_INSTANCE', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'LONGSHORE_DEPLOYMENT', value: `${NAME}-${svc}` },
        { name: 'NODE_OPTIONS', value: DEFAULT_NODE_OPTIONS },
      ]);
      expect(c?.livenessProbe?.httpGet?.path).toBe('/livez');
      expect(c?.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(pod.spec.serviceAccountName).toBe(`${NAME}-${svc}`);
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(c?.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    }
  });

  it('give the claimer and scheduler agent.terminationGracePeriodSeconds (seed 000), so tasks drain', async () => {
    const dflt = await template();
    const set = await template({ values: { agent: { terminationGracePeriodSeconds: 600 } } });
    for (const svc of ['claimer', 'scheduler']) {
      expect(podTemplate(find(dflt, 'Deployment', `${NAME}-${svc}`)).spec.terminationGracePeriodSeconds).toBe(
        18300,
      );
      expect(podTemplate(find(set, 'Deployment', `${NAME}-${svc}`)).spec.terminationGracePeriodSeconds).toBe(
        600,
      );
    }
  });

  it('use an external NATS and Redis by URL or from a Secret, without bundling them', async () => {
    const objects = await template({
      values: {
        nats: { enabled: false, url: 'nats://nats.example:4222' },
        redis: { enabled: false, existingSecret: 'redis-creds', existingSecretKey: 'uri' },
      },
    });
    expect(objects.filter((o) => o.kind === 'StatefulSet')).toEqual([]);
    const env = podTemplate(find(objects, 'Deployment', `${NAME}-claimer`)).spec.containers[0]?.env;
    expect(env).toContainEqual({ name: 'NATS_URL', value: 'nats://nats.example:4222' });
    expect(env).toContainEqual({
      name: 'REDIS_URL',
      valueFrom: { secretKeyRef: { name: 'redis-creds', key: 'uri' } },
    });
    const missing = await templateRaw({ values: { nats: { enabled: false } } });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('nats.enabled is false: set nats.url or nats.existingSecret');
  });

  it('the bundled NATS runs JetStream', async () => {
    const nats = find(await template(), 'StatefulSet', 'ls-nats');
    const c = podTemplate(nats).spec.containers[0] as { image: string; args?: string[] };
    expect(c.args).toContain('-js');
  });

  it('the bundled NATS and Redis are the versions docker-compose.yml runs', async () => {
    const compose = parseYaml(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string }>;
    };
    const objects = await template();
    for (const name of ['nats', 'redis']) {
      const c = podTemplate(find(objects, 'StatefulSet', `ls-${name}`)).spec.containers[0] as {
        image: string;
      };
      expect(c.image, name).toBe(compose.services[name]?.image);
    }
  });
});

interface Workload {
  replicas?: number;
  template: { spec: { affinity?: Record<string, unknown> } };
}

const workload = (objects: readonly Manifest[], svc: string) =>
  find(objects, 'Deployment', `${NAME}-${svc}`).spec as Workload;

/** The default anti-affinity: prefer a node without another pod of the same service. */
const spreadOver = (svc: string) => ({
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: {
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: {
            matchLabels: {
              'app.kubernetes.io/name': 'longshore',
              'app.kubernetes.io/instance': 'ls',
              'app.kubernetes.io/component': svc,
            },
          },
        },
      },
    ],
  },
});

describe('two of everything', () => {
  it('runs two replicas of each service by default, each spread over nodes with a PodDisruptionBudget; the simulator one', async () => {
    const objects = await template({ ...BOTH_SEEDS, values: { 'runner-api-sim': { enabled: true } } });
    for (const svc of SERVICES) {
      const w = workload(objects, svc);
      expect(w.replicas, svc).toBe(2);
      expect(w.template.spec.affinity, svc).toEqual(spreadOver(svc));
      expect(find(objects, 'PodDisruptionBudget', `${NAME}-${svc}`).spec, svc).toEqual({
        maxUnavailable: 1,
        selector: {
          matchLabels: {
            'app.kubernetes.io/name': 'longshore',
            'app.kubernetes.io/instance': 'ls',
            'app.kubernetes.io/component': svc,
          },
        },
      });
    }
    const sim = workload(objects, 'runner-api-sim');
    expect(sim.replicas).toBe(1);
    expect(sim.template.spec.affinity).toBeUndefined();
    expect(objects.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name.includes('sim'))).toBe(
      false,
    );
  });

  it('one replica: no budget (it would block node drains) and no anti-affinity; `create` still decides when set', async () => {
    const one = { replicaCount: 1 };
    const objects = await template({
      ...BOTH_SEEDS,
      values: { agent: one, scheduler: one, gc: one, constraints: one, 'vm-scaler': one },
    });
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    for (const svc of SERVICES) {
      expect(workload(objects, svc).replicas).toBe(1);
      expect(workload(objects, svc).template.spec.affinity).toBeUndefined();
    }
    const forced = await template({
      values: { scheduler: { replicaCount: 1, pdb: { create: true, minAvailable: 1 } } },
    });
    expect(find(forced, 'PodDisruptionBudget', `${NAME}-scheduler`).spec).toMatchObject({ minAvailable: 1 });
    const off = await template({ values: { gc: { pdb: { create: false } } } });
    expect(off.some((o) => o.metadata.name === `${NAME}-gc` && o.kind === 'PodDisruptionBudget')).toBe(false);
    const both = await templateRaw({
      values: { constraints: { pdb: { minAvailable: 1, maxUnavailable: 1 } } },
    });
    expect(both.stderr).toContain('constraints.pdb: set minAvailable or maxUnavailable, not both');
  });

  it("keeps the user's affinity and adds the spread to it; the user's own podAntiAffinity replaces it", async () => {
    const nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['ci'] }] }],
      },
    };
    const podAntiAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { topologyKey: 'topology.kubernetes.io/zone', labelSelector: { matchLabels: { team: 'ci' } } },
      ],
    };
    const objects = await template({
      ...BOTH_SEEDS,
      values: { agent: { affinity: { nodeAffinity } }, 'vm-scaler': { affinity: { podAntiAffinity } } },
    });
    expect(workload(objects, 'claimer').template.spec.affinity).toEqual({
      nodeAffinity,
      ...spreadOver('claimer'),
    });
    expect(workload(objects, 'gc').template.spec.affinity).toEqual({ nodeAffinity, ...spreadOver('gc') });
    expect(workload(objects, 'vm-scaler').template.spec.affinity).toEqual({ podAntiAffinity });
  });

  it('takes agent.replicaCount for the claimer and <service>.replicaCount for the others, and refuses a typo there', async () => {
    const objects = await template({
      ...BOTH_SEEDS,
      values: { agent: { replicaCount: 3 }, scheduler: { replicaCount: 4 } },
    });
    expect(workload(objects, 'claimer').replicas).toBe(3);
    expect(workload(objects, 'scheduler').replicas).toBe(4);
    const typo = await templateRaw({ values: { gc: { replicas: 3 } } });
    expect(typo.stderr).toContain("at '/gc': additional properties 'replicas' not allowed");
  });
});

describe('RBAC per service', () => {
  it('grants each service only the calls its code makes', async () => {
    const objects = await template({
      ...BOTH_SEEDS,
      values: { agent: { constraintChecker: { enable: true } } },
    });
    const pool = poolNameFor('my-org/my-runner');
    expect(rules(objects, 'Role', `${NAME}-claimer`)).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: [`${NAME}-tokens`], verbs: ['get'] },
    ]);
    expect(rules(objects, 'Role', `${NAME}-scheduler`)).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'delete'] },
    ]);
    expect(rules(objects, 'Role', `${NAME}-gc`)).toEqual([
      { apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['list', 'delete'] },
    ]);
    expect(rules(objects, 'ClusterRole', `${NAME}-constraints-longshore`)).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
    ]);
    expect(rules(objects, 'Role', `${NAME}-vm-scaler`)).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [`${pool}-cloud-init`, `${NAME}-provisioner`],
        verbs: ['get'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: ['pool.kubevirt.io'], resources: ['virtualmachinepools'], verbs: ['create'] },
      { apiGroups: ['kubevirt.io'], resources: ['virtualmachineinstances'], verbs: ['list'] },
      { apiGroups: ['kubevirt.io'], resources: ['virtualmachines'], verbs: ['delete'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [`${pool}-cloud-init`], verbs: ['update'] },
      {
        apiGroups: ['pool.kubevirt.io'],
        resources: ['virtualmachinepools'],
        resourceNames: [pool],
        verbs: ['get', 'update'],
      },
      {
        apiGroups: ['pool.kubevirt.io'],
        resources: ['virtualmachinepools/scale'],
        resourceNames: [pool],
        verbs: ['patch'],
      },
    ]);
    // Each Role is bound to its own service's account, and no other.
    for (const svc of ['claimer', 'scheduler', 'gc', 'vm-scaler']) {
      expect(find(objects, 'RoleBinding', `${NAME}-${svc}`).subjects).toEqual([
        { kind: 'ServiceAccount', name: `${NAME}-${svc}`, namespace: 'longshore' },
      ]);
    }
  });

  it('names the pools and cloud-init Secrets exactly as the vm-scaler does', async () => {
    const names = ['my-org/my-runner', 'Acme_Corp/Big..Box--2_', `x/${'y'.repeat(60)}`];
    const objects = await template({
      values: {
        provisioner: {
          circleToken: 'api',
          resourceClasses: names.map((name) => ({ name, token: 't' })),
        },
      },
    });
    const scale = (
      rules(objects, 'Role', `${NAME}-vm-scaler`) as { resources: string[]; resourceNames?: string[] }[]
    ).find((r) => r.resources.includes('virtualmachinepools/scale'));
    expect(scale?.resourceNames).toEqual(names.map(poolNameFor));
  });

  it('puts serviceAccount.annotations on every service account (e.g. for cloud IAM)', async () => {
    const objects = await template({
      ...BOTH_SEEDS,
      values: { serviceAccount: { annotations: { 'iam.example/role': 'longshore' } } },
    });
    for (const svc of SERVICES) {
      expect(find(objects, 'ServiceAccount', `${NAME}-${svc}`).metadata.annotations).toEqual({
        'iam.example/role': 'longshore',
      });
    }
  });

  it("renders seed 000's logging account and Role unless logging.serviceAccount.create is false", async () => {
    const objects = await template();
    find(objects, 'ServiceAccount', `${NAME}-logging`);
    expect(rules(objects, 'Role', `${NAME}-logging`)).toEqual([
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'watch'] },
    ]);
    const off = await template({ values: { logging: { serviceAccount: { create: false } } } });
    expect(off.some((o) => o.metadata.name === `${NAME}-logging`)).toBe(false);
  });

  it('gives the constraint checker no ClusterRole while it is off (the default)', async () => {
    expect((await template()).filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
  });

  it('rbac.create false renders no Roles for the services; serviceAccount.create false runs them as the named account', async () => {
    const objects = await template({
      values: { rbac: { create: false }, serviceAccount: { create: false, name: 'ci' } },
    });
    expect(
      objects.filter(
        (o) => o.kind.includes('Role') && o.metadata.labels?.['app.kubernetes.io/component'] !== 'logging',
      ),
    ).toEqual([]);
    for (const svc of ['claimer', 'scheduler', 'gc', 'constraints']) {
      expect(podTemplate(find(objects, 'Deployment', `${NAME}-${svc}`)).spec.serviceAccountName).toBe('ci');
    }
  });
});

describe('Services and helm test', () => {
  it("give each service's HTTP port a Service that selects only its pods", async () => {
    const objects = await template(BOTH_SEEDS);
    for (const svc of SERVICES) {
      const service = find(objects, 'Service', `${NAME}-${svc}`) as Manifest & {
        spec: {
          selector: Record<string, string>;
          ports: { name: string; port: number; targetPort: string }[];
        };
      };
      const deployment = find(objects, 'Deployment', `${NAME}-${svc}`) as unknown as {
        spec: { selector: { matchLabels: Record<string, string> } };
      };
      expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
      expect(service.spec.selector['app.kubernetes.io/component']).toBe(svc);
      expect(service.spec.ports).toEqual([{ name: 'metrics', port: 8080, targetPort: 'metrics' }]);
    }
  });

  it("helm test asks every enabled service's /readyz, then NATS and Redis", async () => {
    const objects = await template({ ...BOTH_SEEDS, values: { constraints: { enabled: false } } });
    const pod = find(objects, 'Pod', `${NAME}-release-health`);
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    const c = (pod as unknown as { spec: { containers: { args: string[]; env: { name: string }[] }[] } }).spec
      .containers[0]!;
    expect(c.args.slice(2)).toEqual(
      ['claimer', 'scheduler', 'gc', 'vm-scaler'].map(
        (svc) => `http://${NAME}-${svc}.longshore.svc:8080/readyz`,
      ),
    );
    expect(c.env.map((e) => e.name)).toEqual(expect.arrayContaining(['NATS_URL', 'REDIS_URL']));
  });

  it("helm test's check passes on a ready release, fails on an unready one, and never prints a URL's password", async () => {
    const pod = find(await template(BOTH_SEEDS), 'Pod', `${NAME}-release-health`) as unknown as {
      spec: { containers: { args: string[] }[] };
    };
    const script = pod.spec.containers[0]!.args[1]!;
    const servers: Server[] = [];
    const listen = async (status: number) => {
      const server = createServer((_req, res) => res.writeHead(status).end());
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as AddressInfo).port;
    };
    try {
      const [ok, unready, tcp] = [await listen(200), await listen(503), await listen(200)];
      const check = (urls: string[]) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, ['-e', script, ...urls], {
            env: {
              ...process.env,
              WAIT_SECONDS: '1',
              NATS_URL: `nats://127.0.0.1:${tcp},nats://127.0.0.1:${tcp}`,
              REDIS_URL: `redis://default:hunter2@127.0.0.1:${tcp}/0`,
            },
          });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (out += d));
          child.on('close', (code) => resolve({ code, out }));
        });
      const good = await check([`http://127.0.0.1:${ok}/readyz`]);
      expect(good.code, good.out).toBe(0);
      expect(good.out).toContain(`redis ok: 127.0.0.1:${tcp}`);
      expect(good.out.match(/bus ok/g)).toHaveLength(2);
      const bad = await check([`http://127.0.0.1:${ok}/readyz`, `http://127.0.0.1:${unready}/readyz`]);
      expect(bad.code).toBe(1);
      expect(bad.out).toContain(`ready FAILED: http://127.0.0.1:${unready}/readyz (HTTP 503)`);
      expect(good.out + bad.out).not.toContain('hunter2');
    } finally {
      for (const s of servers) s.close();
    }
  });
});

describe('the Runner API simulator', () => {
  it('is off by default; when on, the runner and the provisioner talk to it, and it knows their classes', async () => {
    expect((await template()).some((o) => o.metadata.name.includes('runner-api-sim'))).toBe(false);
    const objects = await template({ ...BOTH_SEEDS, values: { 'runner-api-sim': { enabled: true } } });
    const url = `http://${NAME}-runner-api-sim.longshore.svc:8787`;
    const cfg = await loadRendered(objects);
    expect(cfg.agent.runnerAPI).toBe(url);
    expect(cfg.provisioner?.circleciAPIAddr).toBe(url);
    find(objects, 'Service', `${NAME}-runner-api-sim`);
    const pod = podTemplate(find(objects, 'Deployment', `${NAME}-runner-api-sim`));
    expect(pod.spec.containers[0]?.command).toEqual(['node', programPath('runner-api-sim')]);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(secretData(find(objects, 'Secret', `${NAME}-runner-api-sim`))).toEqual({
      LONGSHORE_SIM_CLASSES:
        'circleci-runner/resourceClass=TOKEN1;circleci-runner/resourceClass2=TOKEN2;my-org/my-runner=your-runner-token',
      LONGSHORE_SIM_API_TOKEN: 'your-circle-api-token',
    });
  });
});
