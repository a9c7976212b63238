// The image itself: built from the Dockerfile by scripts/build-image.sh (buildah, no
// daemon; npm test's ensure-deps builds it cold, and this file runs the script again so
// the image is of the current tree), its files read from the image, and the compose file's
// containers run from it with podman (--read-only with a tmpfs /tmp only, uid 1000, host
// network, config and kubeconfig mounted read-only) against the test bed instead of the
// compose stack's servers: the simulator playing the agent and every service. A task must
// complete and the machine pool must grow, judged by the simulator's history and the
// apiserver. Every container is removed at the end, whatever happened.
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { ASSETS, imageNodeOptions, PROGRAMS } from '@longshore/build';
import { SimAdminClient, type TaskDetail } from '@longshore/runner-api-sim';
import { freePort, layout, readTestbedEnv } from '@longshore/testbed';
import { tempNamespace, testKube } from '@longshore/testbed/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  BUILD_TIMEOUT_MS,
  CONFIG_IN_CONTAINER,
  type ComposeProject,
  type ComposeService,
  env,
  loadDockerModel,
  program,
  REPO,
  SERVICES,
} from './docker-model.ts';
import { type BuiltImage, buildImage, containerLog, podman, podmanExit } from './image-build.ts';

interface ImageInspect {
  Id: string;
  Size: number;
  RootFS: { Layers: string[] };
  Config: { User?: string; Env?: string[]; Entrypoint?: string[]; Labels?: Record<string, string> };
}
interface ContainerInspect {
  State: { Status: string; Running: boolean; ExitCode: number; Pid: number };
  HostConfig: { ReadonlyRootfs: boolean };
  Mounts: { Destination: string }[];
}

let image: BuiltImage;
let inspect: ImageInspect;
let rootfs = ''; // the image mounted read-only on the host
let project: ComposeProject;
let dir = ''; // temp: the kubeconfig the containers read
const id = randomBytes(3).toString('hex');
/** The containers this run started, by role (sim or a service). */
const containers = new Map<string, string>();
const kube = testKube();
let ns: Awaited<ReturnType<typeof tempNamespace>> | undefined;
let namespace = '';
let simUrl = '';
const healthBase: Record<string, string> = {};

const POOLS = { group: 'pool.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinepools' } as const;
const KUBECONFIG_IN_CONTAINER = '/kube/config';
/** The files podman bind-mounts into every container it runs. */
const PODMAN_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/run/.containerenv'];

/**
 * The test bed's kubeconfig with its CA inlined (the containers see no host paths but the
 * mounts), readable by uid 1000. It holds a test bed token: it lives in a 0700 temp dir.
 */
function containerKubeconfig(): string {
  const kc = parseYaml(readFileSync(readTestbedEnv().KUBECONFIG, 'utf8')) as {
    clusters: { cluster: Record<string, string> }[];
  };
  for (const { cluster } of kc.clusters) {
    const ca = cluster['certificate-authority'];
    if (ca) {
      cluster['certificate-authority-data'] = readFileSync(ca).toString('base64');
      delete cluster['certificate-authority'];
    }
  }
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, JSON.stringify(kc), { mode: 0o644 });
  return file;
}

/** Starts one compose container's program as a container of the image. */
async function runContainer(
  role: string,
  s: ComposeService,
  overrides: Record<string, string>,
): Promise<void> {
  const entry = program(s);
  if (!entry) throw new Error(`${role} runs no program`);
  const name = `longshore-image-${id}-${role}`;
  const vars = { ...env(s), ...overrides };
  const mounts = s.volumes?.some((v) => v.target === CONFIG_IN_CONTAINER)
    ? ['--volume', `${join(REPO, 'deploy', 'docker', 'longshore.yaml')}:${CONFIG_IN_CONTAINER}:ro`]
    : [];
  containers.set(role, name);
  await podman(
    image,
    'run',
    '--detach',
    '--name',
    name,
    '--label',
    `io.longshore.test=image-${id}`,
    // Nothing writable but a tmpfs /tmp (podman would also make /run and /var/tmp tmpfs).
    '--read-only',
    '--read-only-tmpfs=false',
    '--tmpfs',
    '/tmp',
    '--user',
    '1000',
    '--network',
    'host',
    '--volume',
    `${join(dir, 'kubeconfig')}:${KUBECONFIG_IN_CONTAINER}:ro`,
    ...mounts,
    ...Object.entries(vars).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    image.ref,
    entry,
  );
}

async function containerState(name: string): Promise<ContainerInspect> {
  return (JSON.parse(await podman(image, 'container', 'inspect', name)) as ContainerInspect[])[0]!;
}

/** Fails at once, with its log, when a container has stopped. */
async function assertAllRunning(what: string): Promise<void> {
  for (const [role, name] of containers) {
    const st = await containerState(name);
    if (!st.State.Running) {
      const log = await containerLog(image, name, '--tail', '40').catch((e: Error) => e.message);
      throw new Error(
        `${role} stopped (${st.State.Status}, exit ${st.State.ExitCode}) before ${what}:\n${log}`,
      );
    }
  }
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await assertAllRunning(what);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** Every path under `root` (relative, no leading slash), not following links. */
function walk(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' });
}

/** Reads /proc/<pid>/status of a container's process (we are root on the host). */
function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

beforeAll(async () => {
  image = buildImage();
  inspect = (JSON.parse(await podman(image, 'image', 'inspect', image.ref)) as ImageInspect[])[0]!;
  rootfs = (await podman(image, 'image', 'mount', image.ref)).trim();
  ({ project } = await loadDockerModel());
  dir = mkdtempSync(join(tmpdir(), 'longshore-image-'));

  const bed = readTestbedEnv();
  ns = await tempNamespace(kube.core, 'image');
  namespace = ns.name;
  containerKubeconfig();

  // The compose containers, with the test bed's servers, this run's namespace and
  // prefixes, and loopback ports in place of the compose network's names.
  const simPort = await freePort();
  simUrl = `http://127.0.0.1:${simPort}`;
  const servers = { NATS_URL: bed.NATS_URL, REDIS_URL: bed.REDIS_URL, KUBECONFIG: KUBECONFIG_IN_CONTAINER };
  healthBase.sim = simUrl;
  await runContainer('sim', project.services.sim!, {
    ...servers,
    LONGSHORE_SIM_HOST: '127.0.0.1',
    LONGSHORE_SIM_PORT: String(simPort),
    LONGSHORE_SIM_AGENT_NAMESPACE: namespace,
    LONGSHORE_SIM_LOG_LEVEL: 'warn',
  });
  for (const svc of SERVICES) {
    const port = await freePort();
    healthBase[svc] = `http://127.0.0.1:${port}`;
    await runContainer(svc, project.services[svc]!, {
      ...servers,
      LONGSHORE__http__host: '127.0.0.1',
      LONGSHORE__http__port: String(port),
      LONGSHORE__bus__prefix: `image${id}`,
      LONGSHORE__redis__keyPrefix: `image${id}`,
      LONGSHORE__agent__namespace: namespace,
      LONGSHORE__agent__runnerAPI: simUrl,
      LONGSHORE__provisioner__namespace: namespace,
      LONGSHORE__provisioner__circleciAPIAddr: simUrl,
    });
  }
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (image) {
    // Each container's log, for a failed run (overwritten by the next one).
    const logs = join(REPO, '.testbed', 'image', 'last-run');
    rmSync(logs, { recursive: true, force: true });
    mkdirSync(logs, { recursive: true });
    for (const [role, name] of containers) {
      const log = await containerLog(image, name).catch((e: Error) => e.message);
      writeFileSync(join(logs, `${role}.log`), log);
    }
    if (containers.size > 0)
      await podman(image, 'rm', '--force', '--ignore', '--time', '10', ...containers.values());
    if (rootfs) await podman(image, 'image', 'unmount', image.ref).catch(() => {});
  }
  if (ns) {
    // The vm-scaler's pool first: the namespace cleanup knows pods and Secrets only.
    await kube.kc
      .makeApiClient(CustomObjectsApi)
      .deleteCollectionNamespacedCustomObject({ ...POOLS, namespace: ns.name })
      .catch(() => {});
    await ns.cleanup();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('the image', () => {
  it('runs node as uid 1000 with the V8 settings, and carries the OCI labels', () => {
    expect(inspect.Config.User).toBe('1000:1000');
    expect(inspect.Config.Entrypoint).toEqual(['node']);
    expect(inspect.Config.Env).toContain(`NODE_OPTIONS=${imageNodeOptions()}`);
    const labels = inspect.Config.Labels ?? {};
    for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision'])
      expect(labels[`org.opencontainers.image.${key}`], key).toBeTruthy();
    const appVersion = /^appVersion: "?([^"\n]+)"?$/m.exec(
      readFileSync(join(REPO, 'deploy', 'helm', 'longshore', 'Chart.yaml'), 'utf8'),
    )?.[1];
    expect(labels['org.opencontainers.image.version']).toBe(appVersion);
  });

  it('adds /app/dist to its base and nothing else: the bundles, no node_modules, sources or tests', async () => {
    // Every path the image changes against its base is /app or under it.
    const changed = (await podman(image, 'image', 'diff', image.ref, image.base))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^[ACD] /, ''));
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.filter((p) => p !== '/app' && !p.startsWith('/app/'))).toEqual([]);

    const app = join(rootfs, 'app');
    expect(readdirSync(app)).toEqual(['dist']);
    const files = walk(join(app, 'dist'));
    for (const name of Object.keys(PROGRAMS)) expect(files).toContain(`${name}.mjs`);
    // Besides the bundles, only the files a program reads beside itself (the VM's cloud-init
    // script, the fleet page's files), and their folders.
    const assets: string[] = ASSETS.map(([, dest]) => dest);
    for (const a of assets) expect(files).toContain(a);
    const folders = new Set(assets.map((a) => dirname(a)));
    expect(files.filter((f) => !f.endsWith('.mjs') && !assets.includes(f) && !folders.has(f))).toEqual([]);
  });

  it('holds no secrets: no npmrc, not the build CA bundle, no tokens or keys in /app', () => {
    const all = walk(rootfs).filter((p) => !/^(proc|sys|dev)(\/|$)/.test(p));
    expect(all.length).toBeGreaterThan(1000); // the whole of Debian and Node: the walk saw it
    expect(all.filter((p) => p.endsWith('.npmrc') || p.endsWith('/npmrc'))).toEqual([]);

    // The CA bundle build-image.sh mounts into the build, by content.
    const caFile =
      process.env.NODE_EXTRA_CA_CERTS || process.env.SSL_CERT_FILE || '/etc/ssl/certs/ca-certificates.crt';
    if (existsSync(caFile)) {
      const ca = readFileSync(caFile);
      const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      const caCopies = all.filter((p) => {
        const st = statSync(join(rootfs, p), { throwIfNoEntry: false });
        return st?.isFile() && st.size === ca.length && digest(readFileSync(join(rootfs, p))) === digest(ca);
      });
      expect(caCopies).toEqual([]);
    }

    // Our own files (the base's Node and npm hold such strings in their own code).
    const tokens = readFileSync(join(layout.pki, 'tokens.csv'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(',')[0]!);
    expect(tokens.length).toBeGreaterThan(0);
    const needles = ['_authToken', 'PRIVATE KEY', ...tokens];
    const app = join(rootfs, 'app');
    for (const f of walk(app)) {
      const path = join(app, f);
      if (!statSync(path).isFile()) continue;
      const text = readFileSync(path, 'utf8');
      for (const n of needles) expect(text.includes(n), `${f} holds ${n.slice(0, 12)}`).toBe(false);
    }
  });
});

describe("the image's command line", () => {
  const cli = (...args: string[]) =>
    podmanExit(image, 'run', '--rm', '--read-only', '--network', 'none', image.ref, ...args);

  it('prints its usage by default, and validates a config file', async () => {
    const help = await cli();
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}status /m);
    const check = await cli('dist/longshore.mjs', 'config', 'check', '/nonexistent.yaml');
    expect(check.code).not.toBe(0);
    expect(check.stderr).toMatch(/nonexistent\.yaml/);
  });

  it('says plainly that `start` needs a clone of the repository, instead of a missing package', async () => {
    const start = await cli('dist/longshore.mjs', 'start');
    expect(start.code).toBe(2);
    expect(start.stderr).toMatch(/npm start/);
    expect(start.stderr).not.toMatch(/Cannot find package|at async/);
  });
});

describe('the simulator and every service, as containers of the image', () => {
  it('become ready, and answer /livez and /readyz', async () => {
    for (const role of ['sim', ...SERVICES]) {
      await waitFor(`${role} /readyz`, 60_000, async () =>
        (await fetch(`${healthBase[role]}/readyz`)).ok ? true : undefined,
      );
      expect((await fetch(`${healthBase[role]}/livez`)).status, `${role} /livez`).toBe(200);
    }
  }, 120_000);

  it('run a task to completion and grow the machine pool', async () => {
    const sim = new SimAdminClient(simUrl);
    const taskId = await sim.enqueue({ resource_class: 'longshore/dev', image: 'fate.test/succeed:1s' });
    await sim.enqueueMany({ resource_class: 'longshore/machine', image: 'machine' }, 2);
    const task = await waitFor('the task to end', 90_000, async () => {
      const t = await sim.task(taskId);
      return t.state === 'completed' || t.state === 'failed' ? t : undefined;
    });
    const kinds = (t: TaskDetail) => t.history.map((e) => e.type);
    expect(task.state, JSON.stringify(task.history)).toBe('completed');
    expect(kinds(task).filter((k) => k === 'claimed')).toHaveLength(1);
    expect(kinds(task)).toContain('config-fetched');
    expect(kinds(task).filter((k) => k === 'failed' || k === 'unclaimed')).toEqual([]);

    const objects = kube.kc.makeApiClient(CustomObjectsApi);
    const replicas = await waitFor('the pool to grow', 60_000, async () => {
      const list = (await objects.listNamespacedCustomObject({ ...POOLS, namespace })) as {
        items: { spec?: { replicas?: number } }[];
      };
      const r = list.items[0]?.spec?.replicas;
      return r === 2 ? r : undefined;
    });
    expect(replicas).toBe(2);
  }, 180_000);

  it('ran as uid 1000 on a read-only root, and wrote nothing outside /tmp', async () => {
    await assertAllRunning('the end');
    const peaks: string[] = [];
    for (const [role, name] of containers) {
      const st = await containerState(name);
      expect(st.HostConfig.ReadonlyRootfs, role).toBe(true);
      const proc = procStatus(st.State.Pid);
      expect(proc.Uid?.split(/\s+/), `${role} real, effective, saved and fs uid`).toEqual([
        '1000',
        '1000',
        '1000',
        '1000',
      ]);
      // What podman itself puts in the root before the program starts: the mount points
      // (and the directories it makes for them) and the files it bind-mounts into /etc.
      const made = [...st.Mounts.map((m) => m.Destination), ...PODMAN_FILES];
      const changed = (await podman(image, 'diff', name))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^[ACD] /, ''))
        .filter((p) => !made.some((m) => m === p || m.startsWith(`${p}/`)));
      expect(changed, `${role} changed files`).toEqual([]);
      peaks.push(`${role} ${proc.VmHWM}`);
    }
    // The peak RSS of each, for the record (not asserted: it varies from run to run).
    console.info(`image ${image.id.slice(0, 12)}, ${inspect.Size} bytes; peak RSS: ${peaks.join(', ')}`);
  });
});
