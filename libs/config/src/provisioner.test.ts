import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { parseConfig } from './load.ts';
import { parseProvisionerSecret, provisionerClasses } from './provisioner.ts';
import { defaultVmSpec, LongshoreConfig } from './schema.ts';

function parse(text: string) {
  return parseConfig({ schema: LongshoreConfig, text, source: 'values.yaml', env: {} });
}

/** Seed 002's config.yaml for an existing Secret. */
const SECRET_CONFIG_YAML = `
resourceClass:
  "my-org/my-runner":
    token: "your-runner-token"
    idleTimeout: "10m" # optional
    spec:
      domain:
        resources:
          requests:
            memory: "2Gi"
            cpu: "1"
        devices:
          disks:
            - name: disk
              disk:
                bus: virtio
      volumes:
        - name: disk
          containerDisk:
            image: "quay.io/containerdisks/ubuntu:22.04"
`;

describe('provisionerClasses', () => {
  it('is empty without a provisioner block', () => {
    expect(provisionerClasses(parse(''))).toEqual([]);
  });

  it("lists seed 002's single class and our list form together", () => {
    const cfg = parse(`
provisioner:
  circleToken: api-token-xyz
  resourceClass: {name: my-org/one, token: token-one, minReplicas: 1, maxReplicas: 5, idleTimeout: 10m}
  resourceClasses:
    - {name: my-org/two, token: token-two}
`);
    expect(provisionerClasses(cfg)).toEqual([
      {
        name: 'my-org/one',
        token: 'token-one',
        idleTimeout: 600_000,
        minReplicas: 1,
        maxReplicas: 5,
        spec: defaultVmSpec(),
      },
      {
        name: 'my-org/two',
        token: 'token-two',
        idleTimeout: undefined,
        minReplicas: 0,
        maxReplicas: 10,
        spec: defaultVmSpec(),
      },
    ]);
  });

  it('ignores tokens in values when an existing secret is named', () => {
    const cfg = parse('provisioner: {existingSecret: s, resourceClass: {name: a/b, token: ignored-token}}');
    expect(provisionerClasses(cfg)[0]?.token).toBeUndefined();
  });

  it("takes the classes from the existing secret's config.yaml, bounds from values", () => {
    const cfg = parse(
      'provisioner: {existingSecret: my-secret, resourceClass: {name: my-org/my-runner, maxReplicas: 8}}',
    );
    const secret = parseProvisionerSecret(
      { 'circle-token': 'your-circleci-api-token\n', 'config.yaml': SECRET_CONFIG_YAML },
      'my-secret',
    );
    expect(secret.circleToken).toBe('your-circleci-api-token');
    expect(provisionerClasses(cfg, secret)).toEqual([
      {
        name: 'my-org/my-runner',
        token: 'your-runner-token',
        idleTimeout: 600_000,
        minReplicas: 0,
        maxReplicas: 8,
        spec: defaultVmSpec(),
      },
    ]);
  });

  it("seed 002's existingSecret example, which sets no bounds, scales from 0 to the quickstart's 10 VMs", () => {
    const secret = parseProvisionerSecret(
      { 'circle-token': 'your-circleci-api-token', 'config.yaml': SECRET_CONFIG_YAML },
      'my-secret',
    );
    expect(provisionerClasses(parse('provisioner: {existingSecret: "my-secret"}'), secret)).toEqual([
      {
        name: 'my-org/my-runner',
        token: 'your-runner-token',
        idleTimeout: 600_000,
        minReplicas: 0,
        maxReplicas: 10,
        spec: defaultVmSpec(),
      },
    ]);
  });

  it('reports a class configured in values that the secret has no token for', () => {
    const cfg = parse('provisioner: {existingSecret: my-secret, resourceClass: {name: my-org/other}}');
    const secret = parseProvisionerSecret(
      { 'circle-token': 't', 'config.yaml': SECRET_CONFIG_YAML },
      'my-secret',
    );
    expect(() => provisionerClasses(cfg, secret)).toThrow(
      'invalid config secret my-secret key config.yaml: resourceClass["my-org/other"]: missing: the values configure',
    );
  });
});

describe('parseProvisionerSecret', () => {
  it('names missing keys', () => {
    expect(() => parseProvisionerSecret({ 'circle-token': ' ' }, 'my-secret')).toThrow(
      'invalid config secret my-secret: 2 problems:\n  key circle-token is missing or empty\n  key config.yaml is missing or empty',
    );
  });

  it('validates config.yaml without echoing tokens', () => {
    let err: unknown;
    try {
      parseProvisionerSecret(
        { 'circle-token': 'x', 'config.yaml': 'resourceClass: {a/b: {token: 12345678901}}' },
        's',
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      'invalid config secret s key config.yaml: resourceClass["a/b"].token: Invalid input: expected string, ' +
        'received number (quote the value so YAML reads it as a string)',
    );
  });
  it('refuses tokens that cannot be bearer tokens, without echoing them; a trailing newline of circle-token is trimmed', () => {
    const config = 'resourceClass: {a/b: {token: "vm token-s3cr3t"}}';
    expect(() =>
      parseProvisionerSecret({ 'circle-token': 'circle-s3cr3t\n', 'config.yaml': config }, 's'),
    ).toThrow(
      'invalid config secret s key config.yaml: resourceClass["a/b"].token: must be visible ASCII characters only, ' +
        'as it is sent as "Authorization: Bearer <token>"; it has a space at character 3 of 15',
    );
    expect(() =>
      parseProvisionerSecret({ 'circle-token': 'circle\ns3cr3t\n', 'config.yaml': SECRET_CONFIG_YAML }, 's'),
    ).toThrow(
      'invalid config secret s: key circle-token must be visible ASCII characters only, as it is sent as ' +
        '"Authorization: Bearer <token>"; it has a line break at character 7 of 13',
    );
    expect(
      parseProvisionerSecret({ 'circle-token': 'circle-s3cr3t\n', 'config.yaml': SECRET_CONFIG_YAML }, 's')
        .circleToken,
    ).toBe('circle-s3cr3t');
  });
});
