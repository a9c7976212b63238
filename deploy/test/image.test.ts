// The image's file tree, assembled here as the Dockerfile would assemble it (no Docker
// engine here): every stage replayed from the Dockerfile's own instructions, on the build
// context that .dockerignore leaves (the dependency install, the bundling, the copies
// between stages). Then the
// compose file's containers run from that tree, with their compose environment, against
// the test bed instead of the compose stack's servers: the simulator playing the agent and
// every service. A task must complete and the machine pool must grow, which shows that the
// image holds every module the programs load and nothing from the repository's own
// node_modules or dev dependencies stands in for it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { imageNodeOptions, PROGRAMS } from '@longshore/build';
import { freePort, readTestbedEnv, stopChild } from '@longshore/testbed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempNamespace, testKube } from '../../testbed/test/kube-helpers.ts';
import {
  BUILD_TIMEOUT_MS,
  type ComposeService,
  type DockerInstruction,
  type DockerModel,
  env,
  loadDockerModel,
  program,
  REPO,
  SERVICES,
} from './docker-model.ts';

let model: DockerModel;
let root: string; // temp dir: stages/<name>/ each stage's WORKDIR, logs/ the programs' output
let image: Stage; // the final stage
let app: string; // its WORKDIR, the image's /app
const procs: { name: string; child: ChildProcess }[] = [];
const id = randomBytes(3).toString('hex');
const kube = testKube();
let ns: Awaited<ReturnType<typeof tempNamespace>> | undefined;
let namespace = '';
let simUrl = '';
const healthUrls: Record<string, string> = {};

const POOLS = { group: 'pool.kubevirt.io', version: 'v1beta1', plural: 'virtualmachinepools' } as const;

/** Copies the context's files under `src` to `dest` (below `dir`), as COPY does. */
function copyFromContext(src: string, dir: string, dest: string): void {
  const from = posix.normalize(src).replace(/\/$/, '');
  const files = [...model.context].filter((f) => from === '.' || f === from || f.startsWith(`${from}/`));
  if (files.length === 0) throw new Error(`COPY ${src}: nothing in the build context`);
  for (const f of files) {
    const rel = f === from ? posix.basename(f) : from === '.' ? f : f.slice(from.length + 1);
    const target = join(dir, dest, rel);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(REPO, f), target);
  }
}

/** A stage's file system: `dir` stands in for its WORKDIR, the one absolute path mapped. */
interface Stage {
  dir: string;
  workdir: string | undefined;
  env: Record<string, string>;
}

/**
 * Replays every stage of the Dockerfile, each in a directory of its own: FROM an earlier
 * stage copies it, WORKDIR names the directory (once per stage, before anything lands in
 * it), COPY copies from the build context or from an earlier stage, RUN runs its command
 * there with sh, ENV is kept for the programs. Returns the final stage.
 */
function replayStages(): Stage {
  const done = new Map<string, Stage>();
  let last: Stage | undefined;
  for (const st of model.dockerfile.stages) {
    const base = done.get(st.base);
    const stage: Stage = {
      dir: join(root, 'stages', st.name),
      workdir: base?.workdir,
      env: { ...base?.env },
    };
    if (base) cpSync(base.dir, stage.dir, { recursive: true, verbatimSymlinks: true });
    else mkdirSync(stage.dir, { recursive: true });
    const where = (i: DockerInstruction) => `stage ${st.name}, ${i.original ?? i.name}`;
    for (const i of st.instructions) {
      const name = i.name.toLowerCase();
      if (name === 'workdir') {
        if (stage.workdir !== undefined && stage.workdir !== i.path)
          throw new Error(`${where(i)}: this replay maps one WORKDIR per stage`);
        stage.workdir = i.path;
      } else if (name === 'copy') {
        if (stage.workdir === undefined) throw new Error(`${where(i)}: COPY before WORKDIR`);
        const dest = i.dest ?? '.';
        if (dest.startsWith('/')) throw new Error(`${where(i)}: absolute COPY destination`);
        if (!i.from) {
          for (const src of i.sources ?? []) copyFromContext(src, stage.dir, dest);
          continue;
        }
        const from = done.get(i.from);
        if (!from?.workdir) throw new Error(`${where(i)}: no earlier stage ${i.from} with a WORKDIR`);
        for (const src of i.sources ?? []) {
          const rel = posix.relative(from.workdir, src);
          if (rel.startsWith('..')) throw new Error(`${where(i)}: ${src} is outside ${from.workdir}`);
          cpSync(join(from.dir, rel), join(stage.dir, dest), { recursive: true, verbatimSymlinks: true });
        }
      } else if (name === 'run') {
        const run = spawnSync('sh', ['-c', (i.args ?? []).join(' ')], {
          cwd: stage.dir,
          encoding: 'utf8',
          env: {
            ...process.env,
            ...stage.env,
            // Quick with the npm cache; the real build has its own (a cache mount).
            npm_config_prefer_offline: 'true',
            npm_config_update_notifier: 'false',
          },
        });
        if (run.status !== 0) throw new Error(`${where(i)} failed:\n${run.stderr}`);
      } else if (name === 'env') {
        // key=value pairs; a value with spaces is in double quotes.
        for (const m of (i.original ?? '')
          .replace(/^ENV\s+/i, '')
          .matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g))
          stage.env[m[1]!] = (m[2] ?? m[3]!).replace(/\\(.)/g, '$1');
      }
    }
    done.set(st.name, stage);
    last = stage;
  }
  if (!last) throw new Error('the Dockerfile has no stage');
  return last;
}

function start(name: string, s: ComposeService, overrides: Record<string, string>): void {
  const entry = program(s);
  if (!entry) throw new Error(`${name} runs no program`);
  const log = openSync(join(root, 'logs', `${name}.log`), 'a');
  const child = spawn(process.execPath, [entry], {
    cwd: app,
    env: { PATH: process.env.PATH, ...image.env, ...env(s), ...overrides },
    stdio: ['ignore', log, log],
  });
  procs.push({ name, child });
}

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    for (const p of procs) {
      if (p.child.exitCode !== null) {
        const log = readFileSync(join(root, 'logs', `${p.name}.log`), 'utf8').slice(-2000);
        throw new Error(`${p.name} exited (${p.child.exitCode}) while waiting for ${what}:\n${log}`);
      }
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const json = async (url: string, init?: RequestInit) => {
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as Record<string, unknown>;
};

beforeAll(async () => {
  model = await loadDockerModel();
  root = mkdtempSync(join(tmpdir(), 'longshore-image-'));
  mkdirSync(join(root, 'logs'), { recursive: true });

  image = replayStages();
  app = image.dir;

  const bed = readTestbedEnv();
  ns = await tempNamespace(kube.core, 'image-tree');
  namespace = ns.name;

  // The compose containers, with the test bed's servers, this test's namespace and
  // prefixes, and loopback ports in place of the compose network's names.
  const simPort = await freePort();
  simUrl = `http://127.0.0.1:${simPort}`;
  const servers = { NATS_URL: bed.NATS_URL, REDIS_URL: bed.REDIS_URL, KUBECONFIG: bed.KUBECONFIG };
  const sim = model.project.services.sim!;
  start('sim', sim, {
    ...servers,
    LONGSHORE_SIM_HOST: '127.0.0.1',
    LONGSHORE_SIM_PORT: String(simPort),
    LONGSHORE_SIM_AGENT_NAMESPACE: namespace,
    LONGSHORE_SIM_LOG_LEVEL: 'warn',
  });
  for (const svc of SERVICES) {
    const port = await freePort();
    healthUrls[svc] = `http://127.0.0.1:${port}/readyz`;
    start(svc, model.project.services[svc]!, {
      ...servers,
      // The mounted config is the repository's file; LONGSHORE_CONFIG names its mount point.
      LONGSHORE_CONFIG: join(REPO, 'deploy', 'docker', 'longshore.yaml'),
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
  await Promise.all(procs.map(({ child }) => stopChild(child, 20_000)));
  if (ns) {
    // The vm-scaler's pool first: the namespace cleanup knows pods and Secrets only.
    await kube.kc
      .makeApiClient(CustomObjectsApi)
      .deleteCollectionNamespacedCustomObject({ ...POOLS, namespace: ns.name })
      .catch(() => {});
    await ns.cleanup();
  }
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("the image's file tree", () => {
  it('holds the bundles and nothing else: no node_modules, no sources, no dev dependencies', () => {
    expect(readdirSync(app)).toEqual(['dist']);
    const files = readdirSync(join(app, 'dist'), { recursive: true, encoding: 'utf8' });
    for (const name of Object.keys(PROGRAMS)) expect(files).toContain(`${name}.mjs`);
    expect(files).toContain('cloud-init/runner-init.sh');
    const other = files.filter(
      (f) => !f.endsWith('.mjs') && f !== 'cloud-init' && !f.startsWith('cloud-init/'),
    );
    expect(other).toEqual([]);
    expect(image.env.NODE_OPTIONS).toBe(imageNodeOptions());
  });

  it('runs the simulator and every service until ready', async () => {
    await waitFor('the simulator', 60_000, async () =>
      (await fetch(`${simUrl}/readyz`)).ok ? true : undefined,
    );
    for (const svc of SERVICES) {
      await waitFor(`${svc} /readyz`, 60_000, async () =>
        (await fetch(healthUrls[svc]!)).ok ? true : undefined,
      );
    }
  }, 120_000);

  it('runs a task to completion and grows the machine pool', async () => {
    const headers = { 'content-type': 'application/json' };
    const { task_id } = await json(`${simUrl}/sim/tasks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resource_class: 'longshore/dev', image: 'fate.test/succeed:1s' }),
    });
    await json(`${simUrl}/sim/tasks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ resource_class: 'longshore/machine', image: 'machine', count: 2 }),
    });
    const state = await waitFor('the task to end', 60_000, async () => {
      const t = await json(`${simUrl}/sim/tasks/${task_id}`);
      return t.state === 'completed' || t.state === 'failed' ? t.state : undefined;
    });
    expect(state).toBe('completed');
    const objects = kube.kc.makeApiClient(CustomObjectsApi);
    const replicas = await waitFor('the pool to grow', 30_000, async () => {
      const list = (await objects.listNamespacedCustomObject({ ...POOLS, namespace })) as {
        items: { spec?: { replicas?: number } }[];
      };
      const r = list.items[0]?.spec?.replicas;
      return r === 2 ? r : undefined;
    });
    expect(replicas).toBe(2);
  }, 120_000);
});
