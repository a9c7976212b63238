// The seeds' Helm values must parse unchanged; these are their examples, written out in
// full (seed 000 lost its YAML indentation in extraction; the structure is the one it and
// CircleCI's chart comments show).
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { parseConfig } from './load.ts';
import { configSecrets, configWarnings, defaultVmSpec, LongshoreConfig } from './schema.ts';

function parse(text: string) {
  return parseConfig({ schema: LongshoreConfig, text, source: 'values.yaml', env: {} });
}

function issuesOf(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const SEED_000_TWO_CLASSES = `
agent:
  resourceClasses:
    circleci-runner/resourceClass:
      token: TOKEN1
      metadata:
        annotations:
          custom.io: my-annotation
      spec:
        containers:
          - resources:
              limits:
                cpu: 500m
            volumeMounts:
              - name: xyz
                mountPath: /path/to/mount
        securityContext:
          runAsNonRoot: true
        imagePullSecrets:
          - name: my_cred
        volumes:
          - name: xyz
            emptyDir: {}
    circleci-runner/resourceClass2:
      token: TOKEN2
      spec:
        imagePullSecrets:
          - name: "other"
`;

const SEED_000_UNSAFE_RETRIES = `
agent:
  resourceClasses:
    namespace/my-rc-1:
      enableUnsafeRetries: true
      token: your-resource-class-1-token
      # The following spec isn't required, but serves as an example of how you could schedule tasks on spot instances using tolerations for the node's taint
      spec:
        tolerations:
        - key: "lifecycle"
          operator: "Equal"
          value: "Ec2Spot"
          effect: "NoExecute"
    namespace/my-rc-2:
      # Unsafe retries are disabled by default
      token: your-resource-class-2-token
      # This resource class can only schedule tasks on nodes without taints specific to spot instances
`;

const SEED_000_CUSTOM_SECRET = `
agent:
  resourceClasses:
    circleci-runner/resourceClass:
      metadata:
        annotations:
          custom.io: my-annotation
      spec:
        containers:
          - resources:
              limits:
                cpu: 500m
    circleci-runner/resourceClass2: {}
  customSecret: my-token-secret
`;

const SEED_000_NODE_SELECTOR = `
agent:
  resourceClasses:
    circleci-runner/resourceClass:
      token: TOKEN1
      spec:
        nodeSelector:
          disktype: ssd
    circleci-runner/resourceClass2:
      token: TOKEN2
`;

const SEED_000_BUILDAH = `
agent:
  resourceClasses:
    my-org/buildah:
      token: <token>
      spec:
        containers:
         - resources:
            limits:
              github.com/fuse: 1
`;

/** CircleCI's container-agent chart defaults (its values.yaml), which configure its Deployment. */
const CHART_DEFAULTS = `
agent:
  replicaCount: 1
  image:
    registry: ""
    repository: "circleci/runner-agent"
    pullPolicy: Always
    tag: "kubernetes-3"
    digest: ""
  pullSecrets: []
  matchLabels:
    app: container-agent
  podAnnotations: {}
  podSecurityContext: {}
  containerSecurityContext: {}
  forceUpdate: false
  livenessProbe:
    httpGet: { path: "/live", port: 7623, scheme: HTTP }
  readinessProbe:
    httpGet: { path: "/ready", port: 7623, scheme: HTTP }
  resources: {}
  nodeSelector: {}
  tolerations: []
  affinity: {}
  pdb: { create: false, minAvailable: 1, maxUnavailable: 1 }
  runnerAPI: "https://runner.circleci.com"
  name: ""
  terminationGracePeriodSeconds: 18300 # 5 hours and 5 minutes
  maxRunTime: "5h"
  maxConcurrentTasks: 20
  kubeGCEnabled: true
  kubeGCThreshold: "5h5m"
  autodetectPlatform: true
  customSecret: ""
  resourceClasses: {}
  constraintChecker:
    enable: false
    threshold: 3
    interval: 15m
  ssh:
    enabled: false
    startPort: 54782
    numPorts: 20
serviceAccount:
  create: true
  name: ""
rbac:
  create: true
logging:
  image:
    registry: ""
    repository: "circleci/logging-collector"
    tag: 3
  serviceAccount:
    create: true
    name: "logging-collector"
proxy:
  enabled: false
  http:
    host: proxy.example.com
    port: 3128
`;

const SEED_002_QUICKSTART = `
provisioner:
  # CircleCI API token for querying unclaimed/running tasks
  circleToken: "your-circle-api-token"
  resourceClass:
    # Resource class in the format "namespace/name"
    name: "my-org/my-runner"
    # Runner token for this resource class
    token: "your-runner-token"
    # Scaling bounds
    minReplicas: 3
    maxReplicas: 10
    # Optional: idle timeout before a waiting VM shuts itself down (e.g. "10m")
    # idleTimeout: ""
    # KubeVirt VirtualMachineInstanceSpec for each runner VM
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

const SEED_002_SERVER = `
provisioner:
  circleciAPIAddr: "https://your-server-hostname"
  circleToken: "your-circle-api-token"
  resourceClass:
    name: "my-org/my-runner"
    token: "your-runner-token"
`;

const SEED_002_EXISTING_SECRET = `
provisioner:
  existingSecret: "my-secret"
`;

describe('LongshoreConfig defaults', () => {
  it('fills every default from an empty file', () => {
    const cfg = parse('');
    expect(cfg.agent).toEqual({
      resourceClasses: {},
      maxConcurrentTasks: 20,
      maxRunTime: 5 * 3_600_000,
      terminationGracePeriodSeconds: 18300,
      gc: {
        enabled: true,
        interval: 180_000,
        threshold: 18_300_000,
        maxRequestsPerSecond: 20,
        batchSize: 100,
        claimGrace: 180_000,
        orphanGrace: 60_000,
      },
      constraintChecker: { enable: false, threshold: 3, interval: 900_000 },
      idleWait: { first: 100, max: 1_000 },
      autodetectPlatform: true,
      runnerAPI: 'https://runner.circleci.com',
      name: '',
      taskPod: {
        initImage: 'circleci/runner-init:agent',
        binDir: '/opt/circleci/bin',
        loggingImage: 'circleci/logging-collector:3',
        imagePullTimeout: 120_000,
        unschedulableTimeout: 600_000,
        keepFailedPods: false,
      },
      keyWarnings: [],
    });
    expect(cfg.provisioner).toBeUndefined();
    expect(cfg.bus).toEqual({ url: 'nats://127.0.0.1:4222', prefix: 'longshore', replicas: 1 });
    expect(cfg.redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'longshore' });
    expect(cfg.kube).toEqual({});
    expect(cfg.http).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(cfg.logging).toEqual({ level: 'info' });
  });
});

describe('seed 000 (container runner) values parse unchanged', () => {
  it('two resource classes with a full pod spec', () => {
    const { agent } = parse(SEED_000_TWO_CLASSES);
    expect(Object.keys(agent.resourceClasses)).toEqual([
      'circleci-runner/resourceClass',
      'circleci-runner/resourceClass2',
    ]);
    const rc = agent.resourceClasses['circleci-runner/resourceClass'];
    expect(rc?.token).toBe('TOKEN1');
    expect(rc?.enableUnsafeRetries).toBe(false);
    expect(rc?.metadata).toEqual({ annotations: { 'custom.io': 'my-annotation' } });
    expect(rc?.spec).toEqual({
      containers: [
        {
          resources: { limits: { cpu: '500m' } },
          volumeMounts: [{ name: 'xyz', mountPath: '/path/to/mount' }],
        },
      ],
      securityContext: { runAsNonRoot: true },
      imagePullSecrets: [{ name: 'my_cred' }],
      volumes: [{ name: 'xyz', emptyDir: {} }],
    });
    expect(agent.resourceClasses['circleci-runner/resourceClass2']?.spec).toEqual({
      imagePullSecrets: [{ name: 'other' }],
    });
  });

  it('unsafe retries per class, with tolerations', () => {
    const { agent } = parse(SEED_000_UNSAFE_RETRIES);
    expect(agent.resourceClasses['namespace/my-rc-1']?.enableUnsafeRetries).toBe(true);
    expect(agent.resourceClasses['namespace/my-rc-1']?.spec?.tolerations).toEqual([
      { key: 'lifecycle', operator: 'Equal', value: 'Ec2Spot', effect: 'NoExecute' },
    ]);
    expect(agent.resourceClasses['namespace/my-rc-2']?.enableUnsafeRetries).toBe(false);
  });

  it('a custom token secret, with a class that is an empty map', () => {
    const { agent } = parse(SEED_000_CUSTOM_SECRET);
    expect(agent.customSecret).toBe('my-token-secret');
    expect(agent.resourceClasses['circleci-runner/resourceClass2']).toEqual({ enableUnsafeRetries: false });
  });

  it('a nodeSelector for the constraint checker example', () => {
    const { agent } = parse(SEED_000_NODE_SELECTOR);
    expect(agent.resourceClasses['circleci-runner/resourceClass']?.spec).toEqual({
      nodeSelector: { disktype: 'ssd' },
    });
  });

  it('an extended resource limit (buildah fuse device)', () => {
    const { agent } = parse(SEED_000_BUILDAH);
    expect(agent.resourceClasses['my-org/buildah']?.spec).toEqual({
      containers: [{ resources: { limits: { 'github.com/fuse': 1 } } }],
    });
  });

  it("the chart's own values.yaml, Deployment settings and legacy GC names included", () => {
    const cfg = parse(CHART_DEFAULTS);
    expect(cfg.agent.gc).toMatchObject({ enabled: true, interval: 180_000, threshold: 18_300_000 });
    expect(cfg.agent.customSecret).toBeUndefined();
    expect(cfg.agent).not.toHaveProperty('replicaCount');
    expect(cfg.logging).toEqual({ level: 'info' });
  });
});

describe('agent settings', () => {
  it('reads the gc block, and the legacy kubeGC* names as aliases', () => {
    expect(parse('agent: {gc: {enabled: false, interval: 1m, threshold: 6h}}').agent.gc).toMatchObject({
      enabled: false,
      interval: 60_000,
      threshold: 21_600_000,
    });
    expect(parse('agent: {kubeGCEnabled: false, kubeGCThreshold: 10h}').agent.gc).toMatchObject({
      enabled: false,
      interval: 180_000,
      threshold: 36_000_000,
    });
  });

  it('reads the GC rate limit, batch size and graces (Longshore extensions), with defaults', () => {
    expect(parse('agent: {}').agent.gc).toMatchObject({
      maxRequestsPerSecond: 20,
      batchSize: 100,
      claimGrace: 180_000,
      orphanGrace: 60_000,
    });
    expect(
      parse('agent: {gc: {maxRequestsPerSecond: 200, batchSize: 500, claimGrace: 10m, orphanGrace: 30s}}')
        .agent.gc,
    ).toMatchObject({ maxRequestsPerSecond: 200, batchSize: 500, claimGrace: 600_000, orphanGrace: 30_000 });
    expect(issuesOf('agent: {gc: {maxRequestsPerSecond: 0, batchSize: 0}}')).toEqual([
      'agent.gc.maxRequestsPerSecond: Too small: expected number to be >0',
      'agent.gc.batchSize: Too small: expected number to be >=1',
    ]);
  });

  it("takes both spellings of a GC setting as CircleCI's chart does: the kubeGC* key wins, with a warning", () => {
    const both = parse(
      'agent: {kubeGCThreshold: 10h, gc: {threshold: 9h, enabled: true}, kubeGCEnabled: false}',
    );
    expect(both.agent.gc).toMatchObject({ enabled: false, threshold: 36_000_000 });
    expect(configWarnings(both)).toEqual([
      "agent.kubeGCEnabled (false) and agent.gc.enabled (true) are both set: agent.kubeGCEnabled is used, as CircleCI's chart does; remove one of them",
      "agent.kubeGCThreshold (10h) and agent.gc.threshold (9h) are both set: agent.kubeGCThreshold is used, as CircleCI's chart does; remove one of them",
    ]);
    // Written twice alike: nothing to warn about.
    const same = parse('agent: {kubeGCThreshold: 6h, gc: {threshold: 360m}}');
    expect(same.agent.gc.threshold).toBe(21_600_000);
    expect(configWarnings(same)).toEqual([]);
  });

  it('accepts a GC threshold that would delete running task pods, with a warning (the chart accepts it)', () => {
    const risky = parse('agent: {maxRunTime: 6h}');
    expect(risky.agent.maxRunTime).toBe(21_600_000);
    expect(configWarnings(risky)).toEqual([
      'agent.gc.threshold is not longer than agent.maxRunTime: garbage collection may delete running task pods',
    ]);
    expect(configWarnings(parse('agent: {maxRunTime: 6h, gc: {enabled: false}}'))).toEqual([]);
    expect(configWarnings(parse('agent: {}'))).toEqual([]);
  });

  it('reads the idle waits of the claim loop (a Longshore extension): 100ms doubling to 1s by default', () => {
    expect(parse('agent: {}').agent.idleWait).toEqual({ first: 100, max: 1_000 });
    expect(parse('agent: {idleWait: {first: 250ms, max: 4s}}').agent.idleWait).toEqual({
      first: 250,
      max: 4_000,
    });
    // One key alone is checked against the other's default.
    expect(parse('agent: {idleWait: {max: 5s}}').agent.idleWait).toEqual({ first: 100, max: 5_000 });
    expect(parse('agent: {idleWait: {first: 1s}}').agent.idleWait).toEqual({ first: 1_000, max: 1_000 });
  });

  it('refuses idle waits of zero, and a first wait longer than the cap', () => {
    expect(issuesOf('agent: {idleWait: {first: 0s, max: "0"}}')).toEqual([
      'agent.idleWait.first: invalid duration "0s": must be greater than zero',
      'agent.idleWait.max: invalid duration "0": must be greater than zero',
    ]);
    expect(issuesOf('agent: {idleWait: {first: 2s, max: 1s}}')).toEqual([
      'agent.idleWait.first: must not exceed agent.idleWait.max (1s)',
    ]);
    expect(issuesOf('agent: {idleWait: {first: 5s}}')).toEqual([
      'agent.idleWait.first: must not exceed agent.idleWait.max (1s)',
    ]);
    expect(issuesOf('agent: {idleWait: {min: 50ms}}')).toEqual([
      'agent.idleWait.min: unknown key (expected one of: first, max)',
    ]);
  });

  it('requires a token per class unless a custom secret is set', () => {
    expect(issuesOf('agent: {resourceClasses: {a/b: {}}}')).toEqual([
      'agent.resourceClasses["a/b"].token: required (or set agent.customSecret to read tokens from a Secret)',
    ]);
  });

  it('reads our extensions: per-class cap, namespace, task pod images', () => {
    const { agent } = parse(`
agent:
  namespace: ci-tasks
  resourceClasses:
    a/b: {token: secret-token, maxConcurrentTasks: 4}
  taskPod: {initImage: registry.local/runner-init:agent}
`);
    expect(agent.namespace).toBe('ci-tasks');
    expect(agent.resourceClasses['a/b']?.maxConcurrentTasks).toBe(4);
    expect(agent.taskPod.initImage).toBe('registry.local/runner-init:agent');
    expect(agent.taskPod.binDir).toBe('/opt/circleci/bin');
  });

  it('drops trailing slashes from the runner API URL', () => {
    expect(parse('agent: {runnerAPI: "https://runner.example.com/"}').agent.runnerAPI).toBe(
      'https://runner.example.com',
    );
  });

  it('rejects resource class names that are not <namespace>/<name>', () => {
    expect(issuesOf('agent: {resourceClasses: {justaname: {token: abcdefgh}}}')).toEqual([
      'agent.resourceClasses.justaname: invalid key: resource class must look like <namespace>/<name>',
    ]);
  });
});

describe('unknown keys', () => {
  it('accepts chart keys and unrelated keys in blocks the charts define', () => {
    const cfg = parse('agent: {someFutureChartKey: 1}\nsomethingElse: {}\nnameOverride: x');
    expect(cfg.agent).not.toHaveProperty('someFutureChartKey');
  });

  it('reports a misspelling of a key we read, with a suggestion', () => {
    expect(issuesOf('agent: {maxConcurentTasks: 5}')).toEqual([
      'agent.maxConcurentTasks: unknown key (did you mean "maxConcurrentTasks"?)',
    ]);
    expect(issuesOf('agent: {resourceClasses: {a/b: {token: abcdefgh, enableUnsafeRetry: true}}}')).toEqual([
      'agent.resourceClasses["a/b"].enableUnsafeRetry: unknown key (did you mean "enableUnsafeRetries"?)',
    ]);
    expect(issuesOf('agent: {MaxRunTime: 1h}')).toEqual([
      'agent.MaxRunTime: unknown key (did you mean "maxRunTime"?)',
    ]);
    expect(issuesOf('agnet: {}')).toEqual(['agnet: unknown key (did you mean "agent"?)']);
  });

  it("rejects any unknown key in Longshore's own blocks", () => {
    expect(issuesOf('bus: {url: "nats://x:4222", subject: y}')).toEqual([
      'bus.subject: unknown key (expected one of: url, prefix, replicas)',
    ]);
  });

  it('reports a typo and a bad value in the same block together', () => {
    expect(issuesOf('agent: {maxRunTime: 5x, maxConcurentTasks: 5}')).toEqual([
      'agent.maxRunTime: invalid duration "5x": unknown unit "x"; valid units are ns, us (or µs), ms, s, m, h',
      'agent.maxConcurentTasks: unknown key (did you mean "maxConcurrentTasks"?)',
    ]);
  });

  it('treats null (an empty YAML value) as unset', () => {
    const cfg = parse('agent:\n  customSecret:\n  maxRunTime:\nbus:\n');
    expect(cfg.agent.customSecret).toBeUndefined();
    expect(cfg.agent.maxRunTime).toBe(18_000_000);
    expect(cfg.bus.prefix).toBe('longshore');
  });
});

describe('seed 002 (runner provisioner) values parse unchanged', () => {
  it('the quickstart values', () => {
    const p = parse(SEED_002_QUICKSTART).provisioner;
    expect(p?.circleciAPIAddr).toBe('https://runner.circleci.com');
    expect(p?.circleToken).toBe('your-circle-api-token');
    expect(p?.resourceClass).toEqual({
      name: 'my-org/my-runner',
      token: 'your-runner-token',
      minReplicas: 3,
      maxReplicas: 10,
      spec: defaultVmSpec(),
    });
  });

  it('a CircleCI Server address, with defaults for the rest', () => {
    const p = parse(SEED_002_SERVER).provisioner;
    expect(p?.circleciAPIAddr).toBe('https://your-server-hostname');
    expect(p?.resourceClass).toMatchObject({ minReplicas: 0, maxReplicas: 10, spec: defaultVmSpec() });
    expect(p?.resourceClass?.idleTimeout).toBeUndefined();
  });

  it('an existing secret in place of tokens', () => {
    const p = parse(SEED_002_EXISTING_SECRET).provisioner;
    expect(p?.existingSecret).toBe('my-secret');
    expect(p?.resourceClass).toBeUndefined();
  });

  it('polls every second unless provisioner.pollInterval says otherwise', () => {
    expect(parse(SEED_002_QUICKSTART).provisioner?.pollInterval).toBe(1_000);
    expect(parse(`${SEED_002_SERVER}  pollInterval: 200ms\n`).provisioner?.pollInterval).toBe(200);
    expect(issuesOf(`${SEED_002_SERVER}  pollInterval: "0"\n`)).toEqual([
      'provisioner.pollInterval: invalid duration "0": must be greater than zero',
    ]);
  });

  it('idleTimeout as a duration, "" as unset', () => {
    const p = parse(`${SEED_002_SERVER}    idleTimeout: "10m"\n`).provisioner;
    expect(p?.resourceClass?.idleTimeout).toBe(600_000);
    expect(
      parse(`${SEED_002_SERVER}    idleTimeout: ""\n`).provisioner?.resourceClass?.idleTimeout,
    ).toBeUndefined();
  });

  it('requires tokens and a resource class unless an existing secret is named', () => {
    expect(issuesOf('provisioner: {resourceClass: {name: a/b}}')).toEqual([
      'provisioner.resourceClass.token: required (or set provisioner.existingSecret)',
      'provisioner.circleToken: required (or set provisioner.existingSecret)',
    ]);
    expect(issuesOf('provisioner: {circleToken: abcdefgh}')).toEqual([
      'provisioner.resourceClass: required: the resource class whose VMs to provision (or set provisioner.existingSecret)',
    ]);
    expect(issuesOf('provisioner: {existingSecret: s, resourceClass: {token: abcdefgh}}')).toEqual([
      'provisioner.resourceClass.name: Invalid input: expected string, received undefined',
    ]);
  });

  it('checks replica bounds, and then duplicate names across both forms', () => {
    expect(
      issuesOf(
        'provisioner: {existingSecret: s, resourceClass: {name: a/b, minReplicas: 3, maxReplicas: 2}}',
      ),
    ).toEqual(['provisioner.resourceClass.minReplicas: must not exceed maxReplicas (2)']);
    expect(
      issuesOf(`
provisioner:
  circleToken: abcdefgh
  resourceClass: {name: a/b, token: abcdefgh}
  resourceClasses:
    - {name: a/b, token: abcdefgh}
`),
    ).toEqual(['provisioner.resourceClasses[0].name: resource class a/b is listed twice']);
  });
});

describe('server URLs', () => {
  it('bus.url: nats:// or tls:// URLs, or host:port, comma-separated', () => {
    expect(parse('bus: {url: "nats://a:4222, tls://b:4443,nats://tok@c"}').bus.url).toBe(
      'nats://a:4222, tls://b:4443,nats://tok@c',
    );
    expect(parse('bus: {url: "localhost:4222"}').bus.url).toBe('localhost:4222');
    const expected = 'must be a nats:// or tls:// URL (or host:port), or a comma-separated list of them';
    expect(issuesOf('bus: {url: not a url}')).toEqual([
      `bus.url: ${expected}, without spaces or control characters`,
    ]);
    expect(issuesOf('bus: {url: "http://nats:4222"}')).toEqual([`bus.url: ${expected}`]);
    expect(issuesOf('bus: {url: "nats://a:4222,wss://b:443"}')).toEqual([
      `bus.url: server 2 of 2: ${expected}: websocket URLs are not supported (Longshore's services connect over TCP)`,
    ]);
    expect(issuesOf('bus: {url: "nats://a:4222,,nats://b:4222"}')).toEqual([
      'bus.url: server 2 of 3: is empty (a stray comma?)',
    ]);
    expect(issuesOf('bus: {url: "nats://a:99999"}')).toEqual([`bus.url: ${expected}`]);
    expect(issuesOf('bus: {url: ""}')).toEqual(['bus.url: must name at least one NATS server']);
  });

  it('bus.replicas: how many copies JetStream keeps, 1 to 5', () => {
    expect(parse('bus: {replicas: 3}').bus.replicas).toBe(3);
    expect(parse('bus: {replicas:}').bus.replicas).toBe(1);
    expect(issuesOf('bus: {replicas: 0}')).toEqual(['bus.replicas: Too small: expected number to be >=1']);
    expect(issuesOf('bus: {replicas: 7}')).toEqual(['bus.replicas: Too big: expected number to be <=5']);
    expect(issuesOf('bus: {replicas: 1.5}')).toEqual([
      'bus.replicas: Invalid input: expected int, received number',
    ]);
  });

  it('redis.url: redis:// or rediss:// with a host and at most a database number', () => {
    expect(parse('redis: {url: "rediss://:pw@redis:6380/2"}').redis.url).toBe('rediss://:pw@redis:6380/2');
    expect(parse('redis: {url: "redis://redis"}').redis.url).toBe('redis://redis');
    const expected = 'must be a redis:// or rediss:// URL';
    expect(issuesOf('redis: {url: not a url}')).toEqual([
      `redis.url: ${expected}, without spaces or control characters`,
    ]);
    expect(issuesOf('redis: {url: "http://redis:6379"}')).toEqual([`redis.url: ${expected}`]);
    expect(issuesOf('redis: {url: "redis://"}')).toEqual([`redis.url: ${expected}: the host is missing`]);
    expect(issuesOf('redis: {url: "redis://redis:6379/cache"}')).toEqual([
      `redis.url: ${expected}: its path, if any, must be a database number, as in redis://host:6379/0`,
    ]);
  });

  it('never echoes a URL, which may hold a password', () => {
    const text = [
      'bus: {url: "nats://user:s3cr3t-pw@nats host:4222"}',
      'redis: {url: "redis://:s3cr3t-pw@redis:6379/x"}',
      'agent: {runnerAPI: "https://user:s3cr3t-pw@runner.example.com"}',
    ].join('\n');
    const issues = issuesOf(text);
    expect(issues).toHaveLength(3);
    expect(issues.join('\n')).not.toContain('s3cr3t');
  });

  it('agent.runnerAPI and provisioner.circleciAPIAddr: http(s) base URLs without credentials', () => {
    expect(issuesOf('agent: {runnerAPI: "https://user:pass@runner.example.com"}')).toEqual([
      'agent.runnerAPI: must not contain credentials (user:password@): put tokens in ' +
        'agent.resourceClasses.<class>.token or agent.customSecret',
    ]);
    expect(issuesOf(`${SEED_002_SERVER.replace('https://', 'https://token@')}`)).toEqual([
      'provisioner.circleciAPIAddr: must not contain credentials (user:password@): put tokens in ' +
        'provisioner.circleToken or provisioner.existingSecret',
    ]);
    expect(issuesOf('agent: {runnerAPI: "https://runner.example.com/?token=abc"}')).toEqual([
      'agent.runnerAPI: must not have a query (?...) or fragment (#...): it is a base URL that request paths are appended to',
    ]);
    expect(issuesOf('agent: {runnerAPI: "nats://runner.example.com"}')).toEqual([
      'agent.runnerAPI: must be an http:// or https:// URL',
    ]);
    expect(issuesOf('agent: {runnerAPI: "https://runner.example.com\\n"}')).toEqual([
      'agent.runnerAPI: must be a URL without spaces, line breaks or control characters',
    ]);
    expect(parse('agent: {runnerAPI: "http://runner.local:8080/base/"}').agent.runnerAPI).toBe(
      'http://runner.local:8080/base',
    );
  });
});

describe('tokens', () => {
  const why = 'must be visible ASCII characters only, as it is sent as "Authorization: Bearer <token>"';
  it.each([
    ['a trailing newline', '"tok-abc\\n"', 'a line break at character 8 of 8'],
    ['a block scalar (it keeps its newline)', '|\n          tok-abc', 'a line break at character 8 of 8'],
    ['a space', '"tok abc"', 'a space at character 4 of 7'],
    ['a tab', '"tok\\tabc"', 'a tab at character 4 of 7'],
    ['a control character', '"tok\\u0007abc"', 'a control character at character 4 of 7'],
    ['a non-ASCII letter', '"tök-abc"', 'a non-ASCII character at character 2 of 7'],
  ])('a resource class token with %s is refused without being echoed', (_name, yaml, where) => {
    const issues = issuesOf(`agent:\n  resourceClasses:\n    a/b:\n      token: ${yaml}\n`);
    expect(issues).toEqual([`agent.resourceClasses["a/b"].token: ${why}; it has ${where}`]);
  });

  it('the provisioner tokens likewise', () => {
    expect(
      issuesOf(`
provisioner:
  circleToken: "circle token"
  resourceClass: {name: a/b, token: "vm-token\\r\\n"}
  resourceClasses: [{name: a/c, token: "ok-token"}, {name: a/d, token: " lead"}]
`),
    ).toEqual([
      `provisioner.circleToken: ${why}; it has a space at character 7 of 12`,
      `provisioner.resourceClass.token: ${why}; it has a carriage return at character 9 of 10`,
      `provisioner.resourceClasses[1].token: ${why}; it has a space at character 1 of 5`,
    ]);
  });

  it('accepts every visible ASCII character', () => {
    const token = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
      .join('')
      .replaceAll('\\', '\\\\')
      .replaceAll('"', '\\"');
    expect(
      parse(`agent: {resourceClasses: {a/b: {token: "${token}"}}}`).agent.resourceClasses['a/b']?.token,
    ).toHaveLength(94);
  });
});

describe('resource class pod specs', () => {
  const rc = (spec: string) =>
    `agent:\n  resourceClasses:\n    a/b:\n      token: tok-abc\n      spec: ${spec}\n`;
  const at = 'agent.resourceClasses["a/b"].spec';

  it('refuses malformed fields the constraint checker reads, naming the key path', () => {
    expect(issuesOf(rc('{nodeSelector: "disktype=ssd"}'))).toEqual([
      `${at}.nodeSelector: must be a map of strings, e.g. nodeSelector: {kubernetes.io/arch: amd64} (not the string kubernetes.io/arch=amd64)`,
    ]);
    // The FAQ's own form (seed 001): the selector on the line under `nodeSelector:` is a string.
    expect(issuesOf(rc('\n        nodeSelector:\n          kubernetes.io/arch=amd64'))).toEqual([
      `${at}.nodeSelector: must be a map of strings, e.g. nodeSelector: {kubernetes.io/arch: amd64} (not the string kubernetes.io/arch=amd64)`,
    ]);
    expect(issuesOf(rc('{nodeSelector: {zone: 5}}'))).toEqual([
      `${at}.nodeSelector.zone: must be a string (quote numbers and booleans)`,
    ]);
    expect(
      issuesOf(
        rc(
          '{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: ssd}}}}',
        ),
      ),
    ).toEqual([
      `${at}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: must be a list of node selector terms`,
    ]);
    expect(
      issuesOf(
        rc(
          '{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: disktype, operator: Like}, {operator: In, values: ssd}]}]}}}}',
        ),
      ),
    ).toEqual([
      `${at}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist, Gt, Lt`,
      `${at}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].key: must be set`,
      `${at}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values: must be a list of strings`,
    ]);
    expect(issuesOf(rc('{affinity: required}'))).toEqual([`${at}.affinity: must be a mapping`]);
    expect(issuesOf(rc('{tolerations: {key: lifecycle}}'))).toEqual([
      `${at}.tolerations: must be a list of tolerations`,
    ]);
    expect(issuesOf(rc('{tolerations: [{key: lifecycle, operator: equals, effect: NoExec}]}'))).toEqual([
      `${at}.tolerations[0].operator: must be Equal or Exists`,
      `${at}.tolerations[0].effect: must be NoSchedule, PreferNoSchedule or NoExecute`,
    ]);
    expect(issuesOf(rc('{containers: [{resources: {requests: {cpu: [1]}}}]}'))).toEqual([
      `${at}.containers[0].resources.requests.cpu: must be a quantity such as "500m", "2Gi" or 4`,
    ]);
    expect(issuesOf(rc('{containers: {resources: {}}}'))).toEqual([
      `${at}.containers: must be a list of containers`,
    ]);
  });

  it('keeps every other Pod field, and null fields, as written', () => {
    const spec = {
      nodeSelector: null,
      tolerations: [{ key: 'k', operator: 'Exists', tolerationSeconds: 30 }],
      containers: [
        { name: 'x', resources: { limits: { cpu: 2, 'github.com/fuse': 1 } }, someFutureField: [1] },
      ],
      priorityClassName: 'high',
      topologySpreadConstraints: [{ maxSkew: 1 }],
    };
    expect(parse(rc(JSON.stringify(spec))).agent.resourceClasses['a/b']?.spec).toEqual(spec);
  });
});

describe('configSecrets', () => {
  it('lists every literal secret in a config', () => {
    const cfg = parse(`
agent:
  resourceClasses:
    a/b: {token: rc-token-1}
    a/c: {token: rc-token-2}
provisioner:
  circleToken: circle-api-token
  resourceClass: {name: a/d, token: vm-token-1}
  resourceClasses: [{name: a/e, token: vm-token-2}]
bus: {url: "nats://nats-token@nats:4222, tls://tls-token@nats2:4222,nats3:4222"}
redis: {url: "redis://:redis-pass@redis:6379"}
`);
    expect(configSecrets(cfg).sort()).toEqual(
      [
        'rc-token-1',
        'rc-token-2',
        'circle-api-token',
        'vm-token-1',
        'vm-token-2',
        'nats-token',
        'tls-token',
        'redis-pass',
      ].sort(),
    );
  });
});
