// Least privilege, proven: the chart rendered with `helm template`, its ServiceAccounts,
// Roles and bindings applied to the test bed's apiserver (RBAC on), and every service run
// as a real process the way its Deployment runs it (command, environment, the chart's
// config file) but with its own ServiceAccount's token. It works end to end (tasks of two
// classes claimed, their pods run and cleaned up, the GC sweeps leftovers, constraints
// publish, the vm-scaler scales its pool and reaps a finished VM), no service logs a 403,
// and each account is denied what it does not need: by real requests, and by
// SelfSubjectAccessReview over a table of what must be allowed and one of what must not.
// Twice: everything in the release's namespace, and task pods and VMs each in a namespace
// of their own (agent.namespace, provisioner.namespace), where a Role in the wrong place
// would show.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { buildDist } from '@longshore/build';
import { type Bus, connectBus } from '@longshore/bus';
import {
  CONSTRAINTS_KV_BUCKET,
  ConstraintStatus,
  constraintStatusKey,
  Labels,
  MANAGED_BY,
  streamName,
} from '@longshore/contracts';
import { isNotFound } from '@longshore/kube';
import { SimAdminClient, startSim } from '@longshore/runner-api-sim';
import { readTestbedEnv } from '@longshore/testbed';
import { tempNamespace, testKube, vmWithInstance } from '@longshore/testbed/testing';
import { poolTargetFor } from '@longshore/vm-scaler';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { kubeconfigFor, loadKubeconfigText, mintToken, ServiceProcesses } from './rbac-fleet.ts';
import {
  ACCOUNTS,
  type Account,
  type AccountRef,
  allRules,
  applyAll,
  componentOf,
  type KubeObject,
  type PolicyRule,
  SERVICES,
  type Service,
  serviceAccounts,
  wildcardRules,
} from './rbac-objects.ts';
import { type Rendered, renderChart } from './rbac-render.ts';

const ADMIN = testKube();
const SMALL = 'lp/small';
const LARGE = 'lp/large';
const VM = 'lp/vm';
const API_TOKEN = 'lp-api-token-0123456789';
const tokenOf = (rc: string) => `lp-token-${rc.replace(/\W/g, '-')}-0123456789`;
const KUBEVIRT = { group: 'kubevirt.io', version: 'v1' } as const;
const POOLS = { group: 'pool.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinepools' } as const;
/** Where the container runner's accounts act, where the vm-scaler's, and the release's own. */
const AGENT_SIDE: readonly Account[] = ['claimer', 'scheduler', 'gc', 'logging'];

interface Clients {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  authz: AuthorizationV1Api;
}

type Name = '$token' | '$provisioner' | '$vmSecret' | '$pool';
type Place = '$release' | '$tasks' | '$vms';

interface World {
  id: string;
  release: string;
  /** The install's namespaces: the release's, the task pods', the VMs'. */
  places: Record<Place, string>;
  admin: SimAdminClient;
  bus: Bus;
  procs: ServiceProcesses;
  chart: Rendered;
  sas: Record<Account, AccountRef>;
  /** This run's names of the objects the tables refer to. */
  names: Record<Name, string>;
  clients: Record<Account, Clients>;
  timings: Record<string, number>;
}

async function setUp(split: boolean, cleanups: (() => Promise<unknown>)[]): Promise<World> {
  const t0 = Date.now();
  const id = randomBytes(3).toString('hex');
  // Unique per run: the constraints ClusterRole and its binding are named after it.
  const release = `lp${id}`;
  const env = readTestbedEnv();
  const made = async (stem: string) => {
    const ns = await tempNamespace(ADMIN.core, stem);
    cleanups.push(ns.cleanup);
    return ns.name;
  };
  const releaseNs = await made('lp');
  const places: Record<Place, string> = {
    $release: releaseNs,
    $tasks: split ? await made('lp-tasks') : releaseNs,
    $vms: split ? await made('lp-vms') : releaseNs,
  };
  const custom = ADMIN.kc.makeApiClient(CustomObjectsApi);
  cleanups.push(async () => {
    // No controller-manager: our custom objects go by hand before the namespace does.
    for (const [api, plural] of [
      [POOLS, POOLS.plural],
      [KUBEVIRT, 'virtualmachineinstances'],
      [KUBEVIRT, 'virtualmachines'],
    ] as const) {
      await custom
        .deleteCollectionNamespacedCustomObject({
          group: api.group,
          version: api.version,
          plural,
          namespace: places.$vms,
        })
        .catch(() => undefined);
    }
  });

  const sim = await startSim({
    classes: { [SMALL]: [tokenOf(SMALL)], [LARGE]: [tokenOf(LARGE)], [VM]: [tokenOf(VM)] },
    apiToken: API_TOKEN,
    // The simulator plays the in-pod agent with the admin's credentials: it stands in for
    // CircleCI and for the task pods, and is not under test.
    agent: { kc: ADMIN.kc, namespace: places.$tasks },
    claimLeaseMs: 5_000,
  });
  cleanups.push(() => sim.close());

  const prefix = `lp${id}`;
  const timings: Record<string, number> = {};
  const renderStart = Date.now();
  const values = chartValues(sim.url, prefix, split ? places : undefined);
  const chart = await renderChart(release, places.$release, values);
  timings.helmTemplate = Date.now() - renderStart;
  // The RBAC and the Secrets the services read; the workloads run here as processes.
  cleanups.push(await applyAll(ADMIN.kc, Object.values(places), [...chart.rbac, ...chart.secrets]));

  const sas = serviceAccounts(chart.rbac);
  const dir = await mkdtemp(join(tmpdir(), 'longshore-lp-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  // The chart's config.yaml as rendered; only addresses differ, through the environment.
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, stringify(chart.config));
  // The image's /app: the bundles the containers' commands name.
  await buildDist(join(dir, 'dist'));
  const procs = new ServiceProcesses(dir, configFile, id);
  cleanups.push(() => procs.stopAll());

  // A token per account, as the kubelet would mount it; the context's namespace is the
  // account's, as in a pod.
  const kubeconfigs = {} as Record<Account, string>;
  const clients = {} as Record<Account, Clients>;
  for (const account of ACCOUNTS) {
    const sa = sas[account];
    const token = await mintToken(ADMIN.core, sa.namespace, sa.name);
    const user = `system:serviceaccount:${sa.namespace}:${sa.name}`;
    kubeconfigs[account] = kubeconfigFor(ADMIN.kc, user, token, sa.namespace);
    const kc = loadKubeconfigText(kubeconfigs[account]);
    clients[account] = {
      core: kc.makeApiClient(CoreV1Api),
      custom: kc.makeApiClient(CustomObjectsApi),
      authz: kc.makeApiClient(AuthorizationV1Api),
    };
  }

  const bus = await connectBus({ servers: env.NATS_URL, prefix, name: `lp-${id}` });
  await bus.ensureStream();
  cleanups.push(async () => {
    await bus.close().catch(() => undefined);
    const nc = await connect({ servers: env.NATS_URL });
    await (await jetstreamManager(nc)).streams.delete(streamName(prefix)).catch(() => undefined);
    await nc.close();
  });

  // Leftovers of an earlier life for the GC: a task pod nobody claimed, still running, and
  // a task Secret without its pod.
  const leftover = { [Labels.managedBy]: MANAGED_BY, [Labels.taskId]: `leftover-${id}` };
  await ADMIN.core.createNamespacedSecret({
    namespace: places.$tasks,
    body: { metadata: { name: `leftover-secret-${id}`, labels: leftover } },
  });
  await ADMIN.core.createNamespacedPod({
    namespace: places.$tasks,
    body: {
      metadata: { name: `leftover-pod-${id}`, labels: leftover },
      spec: { restartPolicy: 'Never', containers: [{ name: 'container-0', image: 'fate.test/hang' }] },
    },
  });
  const pool = poolTargetFor(VM, places.$vms);
  // A pool VM whose one run is over, for the vm-scaler's reaper.
  await finishedVm(custom, places.$vms, `reap-me-${id}`, pool.name);

  const addresses = {
    NATS_URL: env.NATS_URL,
    REDIS_URL: env.REDIS_URL,
    LONGSHORE__http__host: '127.0.0.1',
    LONGSHORE__http__port: '0',
  };
  for (const svc of SERVICES) await procs.start(svc, kubeconfigs[svc], chart.workloads[svc], addresses);
  timings.setup = Date.now() - t0;
  console.log(`least-privilege: namespaces ${JSON.stringify(places)}, release ${release}`);
  return {
    id,
    release,
    places,
    admin: new SimAdminClient(sim.url),
    bus,
    procs,
    chart,
    sas,
    names: {
      $token: chart.config.agent.customSecret,
      $provisioner: chart.config.provisioner.existingSecret,
      $vmSecret: pool.secretName,
      $pool: pool.name,
    },
    clients,
    timings,
  };
}

/**
 * The chart's values for this test: the simulator's classes and quick timings, the
 * provisioner configured. The tokens go into the chart's Secrets, as in production. With
 * `places`, task pods and VMs go to namespaces of their own; without, the chart's
 * defaults put them in the release's.
 */
function chartValues(simUrl: string, prefix: string, places?: Record<Place, string>) {
  return {
    agent: {
      ...(places ? { namespace: places.$tasks } : {}),
      runnerAPI: simUrl,
      maxConcurrentTasks: 10,
      resourceClasses: {
        [SMALL]: { token: tokenOf(SMALL) },
        [LARGE]: { token: tokenOf(LARGE) },
      },
      constraintChecker: { enable: true, interval: '2s', threshold: 3, debounce: '300ms' },
      gc: { interval: '1s', orphanGrace: '2s', maxRequestsPerSecond: 50 },
      taskPod: { imagePullTimeout: '2s', unschedulableTimeout: '3s' },
    },
    provisioner: {
      ...(places ? { namespace: places.$vms } : {}),
      circleciAPIAddr: simUrl,
      circleToken: API_TOKEN,
      pollInterval: '200ms',
      resourceClass: { name: VM, token: tokenOf(VM), minReplicas: 0, maxReplicas: 3 },
    },
    bus: { prefix },
    redis: { keyPrefix: prefix },
  };
}

function finishedVm(custom: CustomObjectsApi, namespace: string, name: string, pool: string) {
  const labels = { [Labels.managedBy]: MANAGED_BY, 'longshore.io/vm-pool': pool };
  return vmWithInstance(custom, namespace, name, labels, 'Succeeded');
}

/** The JSON log records of a service. */
function records(w: World, svc: Service): Record<string, unknown>[] {
  return (w.procs.logs.get(svc) ?? []).flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

async function exists(get: () => Promise<unknown>): Promise<boolean> {
  try {
    await get();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

// ------------------------------------------------------------------ what each account may do

/** One request, as an access review sees it. `resource` is `[group/]resource[/subresource]`. */
interface Access {
  who: Account;
  verb: string;
  resource: string;
  /** An object's name: this run's `$token`, `$provisioner`, `$vmSecret`, `$pool`, or literal. */
  name?: string;
  /**
   * `-` for cluster scope, a Place, or a literal. Default: where the named object lives,
   * else where the account works (the tasks' namespace, the VMs' for the vm-scaler).
   */
  namespace?: string;
}

const each = (who: Account, verbs: string[], resource: string, extra: Partial<Access> = {}): Access[] =>
  verbs.map((verb) => ({ who, verb, resource, ...extra }));

/** What the code calls, each with the call that needs it. */
const ALLOWED: Access[] = [
  // claimer main.ts: readNamespacedSecret(agent.customSecret)
  { who: 'claimer', verb: 'get', resource: 'secrets', name: '$token' },
  // scheduler launcher.ts: createNamespacedSecret, createNamespacedPod; pod-tracker.ts: the
  // pod informer (list, watch), deleteNamespacedPod, deleteNamespacedSecret
  ...each('scheduler', ['create', 'list', 'watch', 'delete'], 'pods'),
  ...each('scheduler', ['create', 'delete'], 'secrets'),
  // gc sweeper.ts: listNamespacedPod/Secret, deleteNamespacedPod/Secret
  ...each('gc', ['list', 'delete'], 'pods'),
  ...each('gc', ['list', 'delete'], 'secrets'),
  // constraints checker.ts: listNode and the node informer
  ...each('constraints', ['list', 'watch'], 'nodes', { namespace: '-' }),
  // vm-scaler vm-scaler.ts: readNamespacedSecret(provisioner.existingSecret)
  { who: 'vm-scaler', verb: 'get', resource: 'secrets', name: '$provisioner' },
  // vm-scaler pool-applier.ts: the cloud-init Secret read, created, replaced; the pool too
  ...each('vm-scaler', ['get', 'update'], 'secrets', { name: '$vmSecret' }),
  { who: 'vm-scaler', verb: 'create', resource: 'secrets' },
  { who: 'vm-scaler', verb: 'create', resource: 'pool.kubevirt.io/virtualmachinepools' },
  ...each('vm-scaler', ['get', 'update'], 'pool.kubevirt.io/virtualmachinepools', { name: '$pool' }),
  // vm-scaler pool-scaler.ts: the size (and ready VMs) read from the pool above, set with
  // patchNamespacedCustomObjectScale
  { who: 'vm-scaler', verb: 'patch', resource: 'pool.kubevirt.io/virtualmachinepools/scale', name: '$pool' },
  // vm-scaler vm-reaper.ts: list VirtualMachineInstances, delete VirtualMachines
  { who: 'vm-scaler', verb: 'list', resource: 'kubevirt.io/virtualmachineinstances' },
  { who: 'vm-scaler', verb: 'delete', resource: 'kubevirt.io/virtualmachines' },
  // seed 000's logging containers in task pods: their pod and its logs
  ...each('logging', ['get', 'watch'], 'pods'),
  { who: 'logging', verb: 'get', resource: 'pods/log' },
  // ...and `watch` on pods/log, which the chart's logging Role grants too: the log
  // subresource serves no watch, so it gives nothing; tolerated, not needed.
  { who: 'logging', verb: 'watch', resource: 'pods/log' },
];

/** What each account must not do: the issue's examples and the obvious escalations. */
const DENIED: Access[] = [
  // Nobody but the scheduler creates pods; nobody acts outside the install's namespaces or
  // cluster-wide (but constraints on nodes), grants itself more, or borrows another account.
  ...ACCOUNTS.filter((a) => a !== 'scheduler').map((who) => ({ who, verb: 'create', resource: 'pods' })),
  ...ACCOUNTS.flatMap((who) => [
    { who, verb: 'create', resource: 'pods', namespace: 'default' },
    { who, verb: 'list', resource: 'secrets', namespace: 'default' },
    { who, verb: 'list', resource: 'pods', namespace: '-' },
    { who, verb: 'list', resource: 'secrets', namespace: '-' },
    { who, verb: 'create', resource: 'rbac.authorization.k8s.io/rolebindings' },
    { who, verb: 'escalate', resource: 'rbac.authorization.k8s.io/roles' },
    { who, verb: 'create', resource: 'serviceaccounts/token', name: 'default' },
    { who, verb: 'impersonate', resource: 'serviceaccounts', name: 'default' },
    { who, verb: 'update', resource: 'configmaps' },
    { who, verb: 'create', resource: 'pods/exec' },
  ]),
  // claimer: its token Secret only, read only
  ...['$provisioner', '$vmSecret'].map((name) => ({
    who: 'claimer' as const,
    verb: 'get',
    resource: 'secrets',
    name,
  })),
  { who: 'claimer', verb: 'list', resource: 'secrets' },
  ...each('claimer', ['update', 'delete'], 'secrets', { name: '$token' }),
  { who: 'claimer', verb: 'list', resource: 'pods' },
  // scheduler: no nodes, no pools, no reading Secrets, no changing pods
  { who: 'scheduler', verb: 'list', resource: 'nodes', namespace: '-' },
  { who: 'scheduler', verb: 'get', resource: 'pool.kubevirt.io/virtualmachinepools', name: '$pool' },
  { who: 'scheduler', verb: 'patch', resource: 'pool.kubevirt.io/virtualmachinepools/scale', name: '$pool' },
  ...['$token', '$provisioner'].map((name) => ({
    who: 'scheduler' as const,
    verb: 'get',
    resource: 'secrets',
    name,
  })),
  { who: 'scheduler', verb: 'list', resource: 'secrets' },
  ...each('scheduler', ['update', 'patch'], 'pods'),
  // gc: deletes, never creates or changes
  { who: 'gc', verb: 'create', resource: 'secrets' },
  ...each('gc', ['update', 'patch'], 'pods'),
  { who: 'gc', verb: 'update', resource: 'secrets', name: '$token' },
  { who: 'gc', verb: 'list', resource: 'nodes', namespace: '-' },
  { who: 'gc', verb: 'delete', resource: 'kubevirt.io/virtualmachines', namespace: '$vms' },
  // constraints: nodes, read only; nothing namespaced
  ...['$token', '$provisioner'].map((name) => ({
    who: 'constraints' as const,
    verb: 'get',
    resource: 'secrets',
    name,
  })),
  ...(['$release', '$tasks', '$vms'] as const).flatMap((namespace) => [
    { who: 'constraints' as const, verb: 'list', resource: 'secrets', namespace },
    { who: 'constraints' as const, verb: 'list', resource: 'pods', namespace },
  ]),
  ...each('constraints', ['delete', 'patch', 'update'], 'nodes', { name: 'kwok-amd64-0', namespace: '-' }),
  { who: 'constraints', verb: 'update', resource: 'nodes/status', name: 'kwok-amd64-0', namespace: '-' },
  // vm-scaler: no pods, no Secrets but its own, no pools or VMs but what it manages
  ...each('vm-scaler', ['get', 'list', 'delete'], 'pods', { namespace: '$tasks' }),
  ...each('vm-scaler', ['get', 'update', 'delete'], 'secrets', { name: '$token' }),
  { who: 'vm-scaler', verb: 'list', resource: 'secrets' },
  ...each('vm-scaler', ['update', 'delete'], 'secrets', { name: '$provisioner' }),
  ...each('vm-scaler', ['get', 'update'], 'secrets', { name: 'someone-elses-secret' }),
  { who: 'vm-scaler', verb: 'delete', resource: 'secrets', name: '$vmSecret' },
  { who: 'vm-scaler', verb: 'delete', resource: 'pool.kubevirt.io/virtualmachinepools', name: '$pool' },
  ...each('vm-scaler', ['get', 'update'], 'pool.kubevirt.io/virtualmachinepools', {
    name: 'someone-elses-pool',
  }),
  {
    who: 'vm-scaler',
    verb: 'patch',
    resource: 'pool.kubevirt.io/virtualmachinepools/scale',
    name: 'someone-elses-pool',
  },
  // The size is read from the pool (with its ready VMs), never from the scale subresource.
  { who: 'vm-scaler', verb: 'get', resource: 'pool.kubevirt.io/virtualmachinepools/scale', name: '$pool' },
  { who: 'vm-scaler', verb: 'create', resource: 'kubevirt.io/virtualmachines' },
  { who: 'vm-scaler', verb: 'list', resource: 'nodes', namespace: '-' },
  // logging: its pods' logs, nothing else
  ...['$token', '$provisioner'].map((name) => ({
    who: 'logging' as const,
    verb: 'get',
    resource: 'secrets',
    name,
  })),
  { who: 'logging', verb: 'list', resource: 'secrets' },
  ...each('logging', ['delete', 'update'], 'pods'),
  { who: 'logging', verb: 'list', resource: 'nodes', namespace: '-' },
];

/** With task pods and VMs in namespaces of their own: nobody's Role reaches another's. */
const DENIED_WHEN_SPLIT: Access[] = [
  ...(['$release', '$tasks'] as const).flatMap((namespace) => [
    { who: 'vm-scaler' as const, verb: 'create', resource: 'secrets', namespace },
    {
      who: 'vm-scaler' as const,
      verb: 'create',
      resource: 'pool.kubevirt.io/virtualmachinepools',
      namespace,
    },
    { who: 'vm-scaler' as const, verb: 'list', resource: 'kubevirt.io/virtualmachineinstances', namespace },
  ]),
  ...(['$release', '$vms'] as const).flatMap((namespace) => [
    { who: 'scheduler' as const, verb: 'create', resource: 'pods', namespace },
    { who: 'scheduler' as const, verb: 'create', resource: 'secrets', namespace },
    { who: 'gc' as const, verb: 'list', resource: 'secrets', namespace },
    { who: 'gc' as const, verb: 'delete', resource: 'pods', namespace },
    { who: 'logging' as const, verb: 'get', resource: 'pods', namespace },
  ]),
];

const NAME_PLACE: Record<Name, Place> = {
  $token: '$tasks',
  $provisioner: '$vms',
  $vmSecret: '$vms',
  $pool: '$vms',
};

function namespaceOf(w: World, a: Access): string | undefined {
  if (a.namespace === '-') return undefined;
  const place: string =
    a.namespace ??
    (a.name && a.name in NAME_PLACE ? NAME_PLACE[a.name as Name] : undefined) ??
    (a.who === 'vm-scaler' ? '$vms' : AGENT_SIDE.includes(a.who) ? '$tasks' : '$release');
  return place in w.places ? w.places[place as Place] : place;
}

/** Grants of the rendered Roles that no ALLOWED entry asks for, or wider than by name. */
function grantedBeyondAllowed(rbac: readonly KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of rbac.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
    const who = componentOf(o) as Account;
    for (const rule of (o.rules as PolicyRule[] | undefined) ?? []) {
      for (const group of rule.apiGroups ?? []) {
        for (const res of rule.resources ?? []) {
          const resource = group === '' ? res : `${group}/${res}`;
          for (const verb of rule.verbs) {
            const wanted = ALLOWED.filter((a) => a.who === who && a.verb === verb && a.resource === resource);
            if (wanted.length === 0)
              out.push(`${o.kind} ${o.metadata.name}: ${verb} ${resource}, not called`);
            else if (wanted.every((a) => a.name) && !rule.resourceNames?.length)
              out.push(`${o.kind} ${o.metadata.name}: ${verb} ${resource} on any name, not only its own`);
          }
        }
      }
    }
  }
  return out;
}

function describeAccess(a: Access): string {
  const where = a.namespace === '-' ? ' cluster-wide' : a.namespace ? ` in ${a.namespace}` : '';
  return `${a.who} ${a.verb} ${a.resource}${a.name ? ` ${a.name}` : ''}${where}`;
}

async function review(w: World, a: Access): Promise<boolean> {
  const parts = a.resource.split('/');
  // A first part with a dot is an API group: `pool.kubevirt.io/virtualmachinepools/scale`.
  const group = parts[0]?.includes('.') ? parts.shift()! : '';
  const [resource, subresource] = parts;
  const name = a.name?.startsWith('$') ? w.names[a.name as Name] : a.name;
  const namespace = namespaceOf(w, a);
  const r = await w.clients[a.who].authz.createSelfSubjectAccessReview({
    body: {
      spec: {
        resourceAttributes: {
          verb: a.verb,
          group,
          resource,
          ...(subresource ? { subresource } : {}),
          ...(name ? { name } : {}),
          ...(namespace ? { namespace } : {}),
        },
      },
    },
  });
  return r.status?.allowed === true;
}

async function expectForbidden(what: string, call: () => Promise<unknown>): Promise<void> {
  let code: unknown;
  try {
    await call();
    code = 'allowed';
  } catch (err) {
    code = (err as { code?: unknown }).code;
  }
  expect(code, what).toBe(403);
}

// ------------------------------------------------------------------ the tests

describe.each([
  { layout: 'everything in the release namespace', split: false },
  { layout: 'task pods and VMs in namespaces of their own', split: true },
])('least privilege: $layout', ({ split }) => {
  let w: World;
  const cleanups: (() => Promise<unknown>)[] = [];
  let started = 0;

  beforeAll(async () => {
    started = Date.now();
    w = await setUp(split, cleanups);
  });

  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((err) => console.error(err));
    console.log(
      `least-privilege timings (ms): ${JSON.stringify({ ...w?.timings, total: Date.now() - started })}`,
    );
  });

  it('renders no wildcard, an account per service bound to its own role, pod creation for the scheduler only', () => {
    const { rbac, workloads } = w.chart;
    expect(wildcardRules(rbac)).toEqual([]);
    // Each Deployment runs as its own service's account, in the release's namespace.
    for (const svc of SERVICES) {
      expect(workloads[svc].serviceAccountName, svc).toBe(w.sas[svc].name);
      expect(w.sas[svc].namespace, svc).toBe(w.places.$release);
    }
    // Each binding binds an account of this install to the role of the same component,
    // and each Role sits where its account works.
    const roles = new Map(
      rbac.filter((o) => o.kind.endsWith('Role')).map((o) => [`${o.kind}/${o.metadata.name}`, o]),
    );
    const bindings = rbac.filter((o) => o.kind.endsWith('Binding'));
    expect(bindings.length).toBeGreaterThanOrEqual(SERVICES.length);
    for (const b of bindings) {
      const ref = b.roleRef as { kind: string; name: string };
      const role = roles.get(`${ref.kind}/${ref.name}`);
      expect(role, `${b.metadata.name} binds a role the chart renders`).toBeDefined();
      const who = componentOf(b) as Account;
      expect(componentOf(role!), b.metadata.name).toBe(who);
      expect(b.metadata.namespace, b.metadata.name).toBe(role!.metadata.namespace);
      const sa = w.sas[who];
      expect(b.subjects, b.metadata.name).toEqual([
        { kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace },
      ]);
      if (role!.kind === 'Role') {
        const place = who === 'vm-scaler' ? '$vms' : AGENT_SIDE.includes(who) ? '$tasks' : '$release';
        expect(role!.metadata.namespace, role!.metadata.name).toBe(w.places[place]);
      }
    }
    // Cluster-wide objects carry the release's name, so two installs (or test runs) differ.
    for (const o of rbac.filter((x) => x.kind.startsWith('Cluster')))
      expect(o.metadata.name).toContain(w.release);
    const podCreators = allRules(rbac)
      .filter(
        ({ rule }) =>
          (rule.apiGroups ?? []).includes('') &&
          rule.resources?.includes('pods') &&
          rule.verbs.includes('create'),
      )
      .map(({ role }) => role);
    expect(podCreators).toEqual([w.sas.scheduler.name]);
    // And nothing beyond the ALLOWED table: every verb on every resource a Role grants is
    // one the code calls, limited to names wherever the table has a name.
    expect(grantedBeyondAllowed(rbac)).toEqual([]);
  });

  it('runs the end-to-end path with every service on its own ServiceAccount', async () => {
    const start = Date.now();
    const { procs, admin, places, names } = w;
    // Container tasks of two classes: claimed, pods created, run, finished, cleaned up.
    const small = await admin.enqueueMany({ resource_class: SMALL, image: 'fate.test/succeed:1s' }, 3);
    const large = await admin.enqueueMany({ resource_class: LARGE, image: 'fate.test/succeed:1s' }, 3);
    const tasks = await procs.waitFor(
      'the tasks to end',
      async () => {
        const all = await Promise.all([...small, ...large].map((id) => admin.task(id)));
        return all.every((t) => ['completed', 'failed', 'cancelled'].includes(t.state)) ? all : undefined;
      },
      90_000,
    );
    expect(tasks.map((t) => t.state)).toEqual([...small, ...large].map(() => 'completed'));
    w.timings.tasks = Date.now() - start;

    // Every task object is gone, the GC's leftovers with them.
    await procs.waitFor('every task pod and Secret to be gone', async () => {
      const sel = { namespace: places.$tasks, labelSelector: Labels.taskId };
      const pods = (await ADMIN.core.listNamespacedPod(sel)).items;
      const secrets = (await ADMIN.core.listNamespacedSecret(sel)).items;
      return pods.length === 0 && secrets.length === 0 ? true : undefined;
    });
    const sweeps = records(w, 'gc').filter((r) => r.msg === 'gc sweep done');
    expect(sweeps.reduce((n, r) => n + Number(r.pods_deleted), 0)).toBeGreaterThanOrEqual(1);
    expect(sweeps.reduce((n, r) => n + Number(r.secrets_deleted), 0)).toBeGreaterThanOrEqual(1);
    expect(sweeps.filter((r) => Number(r.errors) > 0 || r.outcome !== 'completed')).toEqual([]);

    // Constraints checked both classes against the nodes and published them enabled.
    const kv = await w.bus.kv(CONSTRAINTS_KV_BUCKET, ConstraintStatus);
    for (const rc of [SMALL, LARGE]) {
      const s = await procs.waitFor(
        `constraint status of ${rc}`,
        async () => (await kv.get(constraintStatusKey(rc)))?.value,
      );
      expect(s).toMatchObject({ enabled: true, consecutive_failures: 0 });
    }

    // The vm-scaler made its pool and cloud-init Secret (having read the provisioner
    // Secret), scales the pool on a queue change, and reaped the finished VM.
    const custom = ADMIN.kc.makeApiClient(CustomObjectsApi);
    const replicas = async () =>
      (
        (await custom
          .getNamespacedCustomObject({ ...POOLS, namespace: places.$vms, name: names.$pool })
          .catch(() => undefined)) as { spec?: { replicas?: number } } | undefined
      )?.spec?.replicas;
    await procs.waitFor('the pool at its minimum', async () => ((await replicas()) === 0 ? true : undefined));
    expect(
      await exists(() => ADMIN.core.readNamespacedSecret({ namespace: places.$vms, name: names.$vmSecret })),
    ).toBe(true);
    await admin.enqueueMany({ resource_class: VM, image: 'cimg/base:current' }, 2);
    await procs.waitFor('the pool scaled to the queue', async () =>
      (await replicas()) === 2 ? true : undefined,
    );
    await procs.waitFor('the finished VM reaped', async () => {
      const vm = { ...KUBEVIRT, plural: 'virtualmachines', namespace: places.$vms, name: `reap-me-${w.id}` };
      return (await exists(() => custom.getNamespacedCustomObject(vm))) ? undefined : true;
    });
    w.timings.e2e = Date.now() - start;
  }, 300_000);

  it('denies each account what it does not need, by real requests', async () => {
    const { clients: c, names, id } = w;
    const { $tasks: tasks, $vms: vms } = w.places;
    const pod = {
      metadata: { name: `forbidden-${id}` },
      spec: { containers: [{ name: 'c', image: 'fate.test/hang' }] },
    };
    const pools = { ...POOLS, namespace: vms };
    const scaler = c['vm-scaler'].core;
    await expectForbidden('vm-scaler lists pods', () => scaler.listNamespacedPod({ namespace: tasks }));
    await expectForbidden('vm-scaler reads the token Secret', () =>
      scaler.readNamespacedSecret({ namespace: tasks, name: names.$token }),
    );
    await expectForbidden('vm-scaler lists Secrets', () => scaler.listNamespacedSecret({ namespace: vms }));
    await expectForbidden('vm-scaler creates a pod', () =>
      scaler.createNamespacedPod({ namespace: vms, body: pod }),
    );
    await expectForbidden('claimer creates a pod', () =>
      c.claimer.core.createNamespacedPod({ namespace: tasks, body: pod }),
    );
    await expectForbidden('claimer lists Secrets', () =>
      c.claimer.core.listNamespacedSecret({ namespace: tasks }),
    );
    await expectForbidden('claimer reads the provisioner Secret', () =>
      c.claimer.core.readNamespacedSecret({ namespace: vms, name: names.$provisioner }),
    );
    await expectForbidden('gc creates a pod', () =>
      c.gc.core.createNamespacedPod({ namespace: tasks, body: pod }),
    );
    await expectForbidden('gc creates a Secret', () =>
      c.gc.core.createNamespacedSecret({ namespace: tasks, body: { metadata: { name: `forbidden-${id}` } } }),
    );
    await expectForbidden('constraints reads the token Secret', () =>
      c.constraints.core.readNamespacedSecret({ namespace: tasks, name: names.$token }),
    );
    await expectForbidden('constraints lists pods', () =>
      c.constraints.core.listNamespacedPod({ namespace: tasks }),
    );
    await expectForbidden('constraints deletes a node', () =>
      c.constraints.core.deleteNode({ name: 'kwok-amd64-0' }),
    );
    await expectForbidden('scheduler lists nodes', () => c.scheduler.core.listNode());
    await expectForbidden('scheduler reads the pool', () =>
      c.scheduler.custom.getNamespacedCustomObject({ ...pools, name: names.$pool }),
    );
    await expectForbidden('scheduler lists pools', () =>
      c.scheduler.custom.listNamespacedCustomObject(pools),
    );
    await expectForbidden('scheduler creates a pod in another namespace', () =>
      c.scheduler.core.createNamespacedPod({ namespace: 'default', body: pod }),
    );
    await expectForbidden('scheduler reads the token Secret', () =>
      c.scheduler.core.readNamespacedSecret({ namespace: tasks, name: names.$token }),
    );
    await expectForbidden('logging lists Secrets', () =>
      c.logging.core.listNamespacedSecret({ namespace: tasks }),
    );
    // The allowed counterparts, so that a denial above is not the token failing altogether.
    await c.scheduler.core.listNamespacedPod({ namespace: tasks });
    await c.constraints.core.listNode();
    await c.claimer.core.readNamespacedSecret({ namespace: tasks, name: names.$token });
    await scaler.readNamespacedSecret({ namespace: vms, name: names.$vmSecret });
    await c.gc.core.listNamespacedSecret({ namespace: tasks });
  });

  it('allows what the code calls (SelfSubjectAccessReview)', async () => {
    const denied: string[] = [];
    for (const a of ALLOWED) if (!(await review(w, a))) denied.push(describeAccess(a));
    expect(denied, 'needed by the code but denied').toEqual([]);
  });

  it('denies the table of what each account does not need (SelfSubjectAccessReview)', async () => {
    const allowed: string[] = [];
    for (const a of [...DENIED, ...(split ? DENIED_WHEN_SPLIT : [])])
      if (await review(w, a)) allowed.push(describeAccess(a));
    expect(allowed, 'allowed but not needed').toEqual([]);
  });

  it('ran every service without a 403 in its log, and they are still running', () => {
    const forbidden: string[] = [];
    for (const svc of SERVICES) {
      const lines = w.procs.logs.get(svc) ?? [];
      expect(lines.length, `${svc} logged nothing`).toBeGreaterThan(0);
      // The apiserver's words for a 403, as client-node and our kubeErrorMessage pass them on.
      const hits = lines.filter((l) => /forbidden|HTTP-Code: 403|"(code|statusCode)":403\b/i.test(l));
      if (hits.length > 0) forbidden.push(`${svc} (${hits.length} lines): ${hits[0]!.slice(0, 400)}`);
    }
    expect(forbidden, 'services that hit a forbidden call').toEqual([]);
    expect(
      SERVICES.filter((svc) => !w.procs.running(svc)),
      'services that exited',
    ).toEqual([]);
  });
});
