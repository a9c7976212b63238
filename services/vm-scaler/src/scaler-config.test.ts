import {
  ConfigError,
  defaultVmSpec,
  LongshoreConfig,
  parseConfig,
  parseProvisionerSecret,
} from '@longshore/config';
import { describe, expect, it } from 'vitest';
import { planVmScaler, targetNamespace } from './scaler-config.ts';
import { poolTargetFor } from './vm-pool.ts';

function parse(text: string) {
  return parseConfig({ schema: LongshoreConfig, text, source: 'values.yaml', env: {} });
}

/** The seed's quickstart values. */
const QUICKSTART = `
provisioner:
  circleToken: "your-circle-api-token"
  resourceClass:
    name: "my-org/my-runner"
    token: "your-runner-token"
    minReplicas: 3
    maxReplicas: 10
`;

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('planVmScaler', () => {
  it("plans seed 002's single class with the seed's defaults", () => {
    const plan = planVmScaler(parse(QUICKSTART), { fallbackNamespace: 'default', source: 'values.yaml' });
    expect(plan).toEqual({
      namespace: 'default',
      apiUrl: 'https://runner.circleci.com',
      circleToken: 'your-circle-api-token',
      pollIntervalMs: 1000,
      classes: [
        {
          name: 'my-org/my-runner',
          token: 'your-runner-token',
          idleTimeout: undefined,
          minReplicas: 3,
          maxReplicas: 10,
          spec: defaultVmSpec(),
          target: poolTargetFor('my-org/my-runner', 'default'),
        },
      ],
    });
  });

  it('plans several classes, each with its own pool, in the configured namespace', () => {
    const cfg = parse(`
provisioner:
  circleciAPIAddr: https://circleci.example.com/
  circleToken: api-token-xyz
  namespace: runners
  pollInterval: 200ms
  resourceClass: {name: my-org/small, token: token-small, maxReplicas: 2, idleTimeout: 10m}
  resourceClasses:
    - {name: my-org/large, token: token-large, minReplicas: 1, maxReplicas: 4}
`);
    const plan = planVmScaler(cfg, { fallbackNamespace: 'default' });
    expect(plan.namespace).toBe('runners');
    expect(plan.apiUrl).toBe('https://circleci.example.com');
    expect(plan.pollIntervalMs).toBe(200);
    expect(
      plan.classes.map((c) => [c.name, c.token, c.minReplicas, c.maxReplicas, c.idleTimeout, c.target.name]),
    ).toEqual([
      ['my-org/small', 'token-small', 0, 2, 600_000, poolTargetFor('my-org/small', 'runners').name],
      ['my-org/large', 'token-large', 1, 4, undefined, poolTargetFor('my-org/large', 'runners').name],
    ]);
  });

  it("takes classes and the API token from the existing Secret, ignoring the values' tokens", () => {
    const cfg = parse(
      'provisioner: {existingSecret: my-secret, resourceClass: {name: my-org/my-runner, maxReplicas: 5}}',
    );
    const secret = parseProvisionerSecret(
      {
        'circle-token': 'secret-api-token',
        'config.yaml':
          'resourceClass:\n  "my-org/my-runner":\n    token: "secret-runner-token"\n    idleTimeout: "10m"\n',
      },
      'my-secret',
    );
    const plan = planVmScaler(cfg, { fallbackNamespace: 'ns', secret });
    expect(plan.circleToken).toBe('secret-api-token');
    expect(plan.classes).toMatchObject([
      { name: 'my-org/my-runner', token: 'secret-runner-token', idleTimeout: 600_000, maxReplicas: 5 },
    ]);
  });

  it('needs the existing Secret read first when one is named', () => {
    const cfg = parse('provisioner: {existingSecret: my-secret}');
    expect(() => planVmScaler(cfg, { fallbackNamespace: 'ns' })).toThrow(TypeError);
  });

  it('stops at start without a provisioner block, naming the key', () => {
    const err = configErrorOf(() =>
      planVmScaler(parse('agent: {}'), { fallbackNamespace: 'ns', source: 'values.yaml' }),
    );
    expect(err.message).toBe(
      'invalid config values.yaml: provisioner: required: the vm-scaler provisions VMs for provisioner.resourceClass ' +
        '(seed 002) or provisioner.resourceClasses',
    );
  });

  it("rejects a class whose VM spec brings its own cloud-init volume, naming the class's key", () => {
    const cfg = parse(`
provisioner:
  circleToken: api-token-xyz
  resourceClass:
    name: my-org/my-runner
    token: runner-token
    spec:
      domain: {devices: {disks: [{name: disk, disk: {bus: virtio}}, {name: cloudinitdisk, disk: {bus: virtio}}]}}
      volumes:
        - {name: disk, containerDisk: {image: "quay.io/containerdisks/ubuntu:22.04"}}
        - {name: cloudinitdisk, cloudInitNoCloud: {userData: "#cloud-config"}}
`);
    const err = configErrorOf(() => planVmScaler(cfg, { fallbackNamespace: 'ns', source: 'values.yaml' }));
    expect(err.issues).toEqual([
      {
        path: 'provisioner.resourceClass.spec.volumes[1]',
        message:
          'has cloudInitNoCloud: remove it, the provisioner appends its own cloud-init volume to every VM',
      },
    ]);
    expect(err.message).not.toContain('runner-token');
  });

  it('names the list entry, or the Secret key, of a class with a bad spec', () => {
    const cfg = parse(`
provisioner:
  circleToken: api-token-xyz
  resourceClasses:
    - {name: my-org/ok, token: token-ok}
    - {name: my-org/bad, token: token-bad, spec: {volumes: {}}}
`);
    expect(
      configErrorOf(() => planVmScaler(cfg, { fallbackNamespace: 'ns', source: 'values.yaml' })).message,
    ).toBe('invalid config values.yaml: provisioner.resourceClasses[1].spec.volumes: must be a list');
    const fromSecret = parseProvisionerSecret(
      {
        'circle-token': 'tok-api',
        'config.yaml': 'resourceClass:\n  "my-org/bad":\n    token: "t-bad-123"\n    spec: {volumes: 3}\n',
      },
      'my-secret',
    );
    const err = configErrorOf(() =>
      planVmScaler(parse('provisioner: {existingSecret: my-secret}'), {
        fallbackNamespace: 'ns',
        secret: fromSecret,
      }),
    );
    expect(err.message).toBe(
      'invalid config secret my-secret key config.yaml: resourceClass["my-org/bad"].spec.volumes: must be a list',
    );
  });
});

describe('targetNamespace', () => {
  it('is provisioner.namespace, else kube.namespace, else the fallback', () => {
    expect(targetNamespace(parse(`${QUICKSTART}  namespace: a\nkube: {namespace: b}\n`), 'c')).toBe('a');
    expect(targetNamespace(parse(`${QUICKSTART}kube: {namespace: b}\n`), 'c')).toBe('b');
    expect(targetNamespace(parse(QUICKSTART), 'c')).toBe('c');
  });
});
