// docker-compose.yml and the Dockerfile, checked without a Docker engine (there is none
// here). deploy/check (Go) reads them with Docker's own libraries: compose-go loads and
// validates the compose file, BuildKit parses and lints the Dockerfile, and the
// .dockerignore rules give the build context. This file then checks that they agree with
// the repository: every service has a container, every path they name exists and is in
// the image, the mounted config passes the real config loader with the container's env,
// and the simulator, k3s and the services share tokens, ports, namespaces and paths.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { PROGRAMS, type ProgramName, programPath } from '@longshore/build';
import { type LongshoreConfig, loadLongshoreConfig, provisionerClasses } from '@longshore/config';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { kubevirtVmCrds, virtualMachinePoolCrd } from '../../testbed/src/crds.ts';
import { parseClasses } from '../../tools/runner-api-sim/src/config.ts';
import { pointAt } from '../docker/kubeconfig.ts';
import {
  BUILD_TIMEOUT_MS,
  COMPOSE_FILE,
  CONFIG_IN_CONTAINER,
  type ComposeProject,
  type ComposeService,
  DOCKERFILE,
  type DockerfileModel,
  deploycheck as deploycheckWith,
  env,
  healthPort,
  loadDockerModel,
  program,
  REPO,
  SERVICES,
} from './docker-model.ts';

let checker: string;
let project: ComposeProject;
let dockerfile: DockerfileModel;
let context: Set<string>;
const deploycheck = (...args: string[]) => deploycheckWith(checker, ...args);

beforeAll(async () => {
  ({ checker, project, dockerfile, context } = await loadDockerModel());
}, BUILD_TIMEOUT_MS);

const service = (name: string): ComposeService => {
  const s = project.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};
const builtServices = () => Object.entries(project.services).filter(([, s]) => s.build !== undefined);
/** The host file bind-mounted at `target` in the container. */
const boundFile = (s: ComposeService, target: string): string | undefined =>
  s.volumes?.find((v) => v.type === 'bind' && v.target === target)?.source;
const finalStage = () => dockerfile.stages.at(-1)!;

describe('the checker', () => {
  it('fails a compose file that the compose schema rejects, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longshore-compose-'));
    try {
      const bad = readFileSync(COMPOSE_FILE, 'utf8').replace(
        'condition: service_completed_successfully',
        'condition: service_finished',
      );
      writeFileSync(join(dir, 'docker-compose.yml'), bad);
      const r = await deploycheck('compose', join(dir, 'docker-compose.yml'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/depends_on\.kubeconfig\.condition/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails a Dockerfile that BuildKit's lint rules warn about", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longshore-dockerfile-'));
    try {
      const bad = readFileSync(DOCKERFILE, 'utf8').replace('ENTRYPOINT ["node"]', 'ENTRYPOINT node');
      writeFileSync(join(dir, 'Dockerfile'), bad);
      const r = await deploycheck('dockerfile', join(dir, 'Dockerfile'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/JSONArgsRecommended/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  it('passes every BuildKit lint rule', () => {
    expect(dockerfile.warnings).toEqual([]);
  });

  it('is multi-stage on Node 24 and runs node as a non-root user', () => {
    expect(dockerfile.stages.length).toBeGreaterThan(1);
    const names = new Set(dockerfile.stages.map((st) => st.name));
    for (const stage of dockerfile.stages) {
      if (names.has(stage.base)) continue; // built on an earlier stage
      const base = stage.base.replace(/^\$\{?(\w+)\}?$/, (_, arg: string) => dockerfile.metaArgs[arg] ?? '');
      expect(base, `stage ${stage.name}`).toMatch(/^node:24(\.[\d.]+)?-(alpine|bookworm-slim)/);
    }
    const last = finalStage().instructions;
    const user = last.filter((i) => i.name === 'USER').at(-1)?.user;
    expect(user, 'the image must run as uid 1000 (node), by number').toMatch(/^1000(:1000)?$/);
    const entrypoint = last.find((i) => i.name === 'ENTRYPOINT');
    expect(entrypoint).toMatchObject({ args: ['node'], shell: false });
  });

  it('copies sources that exist and are in the build context (not excluded by .dockerignore)', () => {
    const copies = dockerfile.stages.flatMap((s) =>
      s.instructions.filter((i) => (i.name === 'COPY' || i.name === 'ADD') && !i.from),
    );
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      for (const src of c.sources ?? []) {
        const path = posix.normalize(src).replace(/\/$/, '');
        expect(existsSync(join(REPO, path)), `COPY source ${src} exists`).toBe(true);
        const inContext =
          path === '.' ? context.size > 0 : [...context].some((f) => f === path || f.startsWith(`${path}/`));
        expect(inContext, `COPY source ${src} is in the build context`).toBe(true);
      }
    }
  });

  it('installs the production dependencies of every service, the simulator, the CLI and the bundler', () => {
    const install = dockerfile.stages
      .flatMap((s) => s.instructions)
      .find((i) => i.name === 'RUN' && i.args?.join(' ').includes('npm ci'));
    const cmd = install?.args?.join(' ') ?? '';
    expect(cmd).toMatch(/--omit=dev/);
    const workspaces = [...cmd.matchAll(/--workspace[= ](\S+)/g)].map((m) => m[1]);
    const wanted = [
      ...SERVICES.map((s) => `services/${s}`),
      'tools/runner-api-sim',
      'tools/cli',
      'tools/build',
    ];
    expect(workspaces.sort()).toEqual(wanted.sort());
  });

  it('sends no tests, test bed sources, node_modules or git data to the build', () => {
    const leaks = [...context].filter(
      (f) =>
        /(^|\/)(node_modules|\.git|\.testbed|test)\//.test(f) ||
        f.endsWith('.test.ts') ||
        (/^(testbed|bench)\//.test(f) && !f.endsWith('/package.json')),
    );
    expect(leaks).toEqual([]);
    // ...but every workspace manifest, which npm ci checks against the lockfile.
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { link?: boolean }>;
    };
    const workspaceDirs = Object.keys(lock.packages).filter(
      (k) => k !== '' && !k.includes('node_modules') && existsSync(join(REPO, k, 'package.json')),
    );
    for (const dir of workspaceDirs) expect(context.has(`${dir}/package.json`), dir).toBe(true);
  });

  it("ships what production code imports: only each workspace's declared dependencies", () => {
    const problems: string[] = [];
    const dirs = [
      ...readdirSync(join(REPO, 'libs')).map((d) => `libs/${d}`),
      ...SERVICES.map((s) => `services/${s}`),
      'tools/runner-api-sim',
      'tools/cli',
      'tools/build',
    ];
    for (const dir of dirs) {
      const pkg = JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const deps = new Set(Object.keys(pkg.dependencies ?? {}));
      for (const file of [...context].filter((f) => f.startsWith(`${dir}/src/`) && f.endsWith('.ts'))) {
        // Comments may say "from's" or "import 'x'" in prose: read the code only.
        const text = readFileSync(join(REPO, file), 'utf8')
          .replace(/\/\*[\s\S]*?\*\//g, '')
          .replace(/^\s*\/\/.*$/gm, '');
        for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'".][^'"]*)['"]/g)) {
          const spec = m[1]!;
          if (spec.startsWith('node:')) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (!deps.has(name)) problems.push(`${file} imports ${name}, not a dependency of ${dir}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('docker-compose.yml', () => {
  it('has a container for every service in services/, running its bundle from the image', () => {
    for (const svc of SERVICES) {
      const s = service(svc);
      expect(program(s), svc).toBe(programPath(svc as ProgramName));
      expect(PROGRAMS[svc as ProgramName], svc).toBe(`services/${svc}/src/main.ts`);
      expect(s.build, `${svc} is built from the Dockerfile`).toMatchObject({
        context: REPO,
        dockerfile: 'Dockerfile',
      });
    }
  });

  it('runs programs the build stage bundles, from sources in the build context, copied into the final stage', () => {
    const build = dockerfile.stages.find((st) => st.name === 'build');
    const bundles = build?.instructions.find(
      (i) => i.name === 'RUN' && i.args?.join(' ').includes('tools/build'),
    );
    expect(bundles?.args?.join(' '), 'the build stage runs the bundler into dist').toMatch(
      /tools\/build\/src\/main\.ts dist$/,
    );
    const copied = finalStage().instructions.find((i) => i.name === 'COPY' && i.from === 'build');
    expect(copied).toMatchObject({ sources: ['/app/dist/'], dest: 'dist/' });
    for (const [name, s] of builtServices()) {
      const prog = program(s);
      const entry = Object.entries(PROGRAMS).find(([p]) => programPath(p as ProgramName) === prog);
      expect(entry, `${name} runs one of the bundles (${prog})`).toBeDefined();
      const source = entry![1];
      expect(existsSync(join(REPO, source)), `${name}: ${source} exists`).toBe(true);
      expect(context.has(source), `${name}: ${source} is in the build context`).toBe(true);
    }
  });

  it('mounts files that exist', () => {
    for (const [name, s] of Object.entries(project.services)) {
      for (const v of s.volumes ?? []) {
        if (v.type === 'bind') expect(existsSync(v.source), `${name}: ${v.source}`).toBe(true);
        else expect(Object.keys(project.volumes), `${name}: volume ${v.source}`).toContain(v.source);
      }
    }
  });

  it('gives every service the one config file, which the real loader accepts with the container env', async () => {
    for (const svc of SERVICES) {
      const s = service(svc);
      const e = env(s);
      expect(e.LONGSHORE_CONFIG, svc).toBe(CONFIG_IN_CONTAINER);
      const file = boundFile(s, CONFIG_IN_CONTAINER);
      expect(file, `${svc} mounts the config`).toBe(join(REPO, 'deploy', 'docker', 'longshore.yaml'));
      expect(s.volumes?.find((v) => v.target === CONFIG_IN_CONTAINER)?.read_only, svc).toBe(true);
      const cfg = await loadLongshoreConfig({ file: file!, env: e });
      // The URLs name compose services.
      expect(Object.keys(project.services)).toContain(new URL(cfg.bus.url).hostname);
      expect(Object.keys(project.services)).toContain(new URL(cfg.redis.url).hostname);
      // Health is checked, and published, on the port the service listens on.
      expect(healthPort(s), `${svc} healthcheck port`).toBe(cfg.http.port);
      for (const p of s.ports ?? []) expect(p.target, `${svc} published port`).toBe(cfg.http.port);
      expect(cfg.http.host).toBe('0.0.0.0');
    }
  });

  it('starts services after NATS, Redis and the kubeconfig are ready, and checks their health', () => {
    for (const svc of SERVICES) {
      const s = service(svc);
      expect(s.depends_on, svc).toMatchObject({
        nats: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        kubeconfig: { condition: 'service_completed_successfully' },
      });
      expect(s.healthcheck?.test?.[0], svc).toBe('CMD');
    }
    for (const dep of ['nats', 'redis', 'k3s', 'sim'])
      expect(service(dep).healthcheck?.test, dep).toBeDefined();
    // The claimer and the vm-scaler call the Runner API from their first moment.
    for (const svc of ['claimer', 'vm-scaler']) {
      expect(service(svc).depends_on?.sim?.condition, svc).toBe('service_healthy');
    }
  });

  describe('with the config', () => {
    let cfg: LongshoreConfig;
    beforeAll(async () => {
      const s = service('claimer');
      cfg = await loadLongshoreConfig({ file: boundFile(s, CONFIG_IN_CONTAINER)!, env: env(s) });
    });

    it('points the services at the simulator, which knows their tokens and plays the agent', () => {
      const sim = env(service('sim'));
      const simPort = Number(sim.LONGSHORE_SIM_PORT);
      expect(sim.LONGSHORE_SIM_HOST).toBe('0.0.0.0');
      expect(healthPort(service('sim'))).toBe(simPort);
      expect(cfg.agent.runnerAPI).toBe(`http://sim:${simPort}`);
      const provisioner = cfg.provisioner!;
      expect(provisioner.circleciAPIAddr).toBe(`http://sim:${simPort}`);
      const classes = parseClasses(sim.LONGSHORE_SIM_CLASSES ?? '');
      const agentClasses = Object.entries(cfg.agent.resourceClasses);
      expect(agentClasses).toHaveLength(1); // one container class, as in the brief
      for (const [name, rc] of agentClasses) expect(classes[name], name).toContain(rc.token);
      const vmClasses = provisionerClasses(cfg);
      expect(vmClasses.length).toBeGreaterThan(0);
      for (const rc of vmClasses) expect(classes[rc.name], rc.name).toContain(rc.token);
      expect(sim.LONGSHORE_SIM_API_TOKEN).toBe(provisioner.circleToken);
      expect(sim.LONGSHORE_SIM_PLAY_AGENT).toBe('true');
      expect(sim.LONGSHORE_SIM_AGENT_NAMESPACE).toBe(cfg.agent.namespace);
    });

    it('has k3s create the namespace and the KubeVirt stand-in CRDs the test bed uses', () => {
      const k3s = service('k3s');
      const manifest = k3s.volumes?.find((v) =>
        v.target.startsWith('/var/lib/rancher/k3s/server/manifests/'),
      );
      expect(manifest?.type).toBe('bind');
      const docs = parseAllDocuments(readFileSync(manifest!.source, 'utf8')).map((d) => d.toJS());
      const namespaces = docs.filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name);
      expect(namespaces).toContain(cfg.agent.namespace);
      expect(namespaces).toContain(cfg.provisioner?.namespace);
      const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
      // client-node spells the schema extension with underscores; the YAML with dashes.
      const asYaml = (o: unknown) =>
        JSON.parse(
          JSON.stringify(o).replaceAll(
            'x_kubernetes_preserve_unknown_fields',
            'x-kubernetes-preserve-unknown-fields',
          ),
        );
      expect(crds).toEqual([virtualMachinePoolCrd(), ...kubevirtVmCrds()].map(asYaml));
      // k3s is healthy only once those exist.
      const health = k3s.healthcheck?.test?.join(' ') ?? '';
      expect(health).toContain(`namespace/${cfg.agent.namespace}`);
      expect(health).toContain('crd/virtualmachinepools.pool.kubevirt.io');
    });

    it("hands k3s's kubeconfig, re-pointed at https://k3s:6443, to everything that talks to Kubernetes", () => {
      const k3s = service('k3s');
      expect(k3s.command).toContain('--tls-san=k3s');
      const output = env(k3s).K3S_KUBECONFIG_OUTPUT!;
      const outVolume = k3s.volumes?.find((v) => output.startsWith(`${v.target}/`));
      expect(outVolume?.type, 'k3s writes its kubeconfig to a named volume').toBe('volume');
      // ...and only there, so its own health check must name that file.
      expect(k3s.healthcheck?.test).toContain(`--kubeconfig=${output}`);

      const kc = service('kubeconfig');
      expect(kc.depends_on?.k3s?.condition).toBe('service_healthy');
      const [script, source, dest, server] = kc.command ?? [];
      expect(script).toBe(programPath('kubeconfig'));
      expect(server).toBe('https://k3s:6443');
      // It reads the file k3s writes, through the same volume.
      const kcIn = kc.volumes?.find((v) => v.source === outVolume!.source);
      expect(source).toBe(posix.join(kcIn!.target, relative(outVolume!.target, output)));
      // ...and writes where the others' KUBECONFIG points, through another volume.
      const kcOut = kc.volumes?.find((v) => dest!.startsWith(`${v.target}/`) && !v.read_only);
      expect(kcOut?.type).toBe('volume');
      for (const name of [...SERVICES, 'sim']) {
        const s = service(name);
        expect(env(s).KUBECONFIG, name).toBe(dest);
        expect(s.volumes?.find((v) => v.source === kcOut!.source)?.target, name).toBe(kcOut!.target);
      }
    });
  });

  it('offers the bus tap as a tool: docker compose run --rm tap', () => {
    const tap = service('tap');
    expect(tap.profiles).toEqual(['tools']);
    expect(program(tap)).toBe(programPath('longshore'));
    expect(tap.entrypoint).toEqual(['node', programPath('longshore'), 'tap']);
    expect(new URL(env(tap).NATS_URL ?? '').hostname).toBe('nats');
    expect(tap.depends_on?.nats?.condition).toBe('service_healthy');
  });

  it('runs NATS with JetStream', () => {
    const nats = service('nats');
    expect(nats.command?.some((a) => a === '-js' || a === '--jetstream')).toBe(true);
  });
});

describe('deploy/docker/kubeconfig.ts', () => {
  it("sets every cluster's server and keeps the credentials", () => {
    const text = [
      'apiVersion: v1',
      'clusters:',
      '- cluster: {certificate-authority-data: Q0E=, server: "https://127.0.0.1:6443"}',
      '  name: default',
      'contexts: [{context: {cluster: default, user: default}, name: default}]',
      'current-context: default',
      'users: [{name: default, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}}]',
    ].join('\n');
    const out = parseYaml(pointAt(text, 'https://k3s:6443'));
    expect(out.clusters[0].cluster).toEqual({
      'certificate-authority-data': 'Q0E=',
      server: 'https://k3s:6443',
    });
    expect(out.users[0].user['client-key-data']).toBe('S0VZ');
    expect(() => pointAt('apiVersion: v1\n', 'https://k3s:6443')).toThrow(/no clusters/);
  });
});
