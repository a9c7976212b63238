// The Docker files as Docker's own libraries read them, through deploy/check (Go): the
// resolved compose project, the Dockerfile's stages and lint warnings, and the build
// context after .dockerignore. Shared by the compose and image tests.
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = join(import.meta.dirname, '..', '..');
export const COMPOSE_FILE = join(REPO, 'docker-compose.yml');
export const DOCKERFILE = join(REPO, 'Dockerfile');
export const CONFIG_IN_CONTAINER = '/etc/longshore/longshore.yaml';
export const SERVICES = readdirSync(join(REPO, 'services'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

// The parts of compose-go's resolved project that the checks read.
export interface ComposeVolume {
  type: 'bind' | 'volume' | string;
  source: string;
  target: string;
  read_only?: boolean;
}
export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment?: Record<string, string | null>;
  volumes?: ComposeVolume[];
  ports?: { target: number; published?: string; host_ip?: string }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
  profiles?: string[];
  user?: string;
}
export interface ComposeProject {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}
export interface DockerInstruction {
  name: string;
  /** The instruction as written (flags resolved), e.g. `ENV NODE_ENV=production`. */
  original?: string;
  /** WORKDIR's path. */
  path?: string;
  sources?: string[];
  dest?: string;
  from?: string;
  args?: string[];
  shell?: boolean;
  user?: string;
}
export interface DockerfileModel {
  metaArgs: Record<string, string>;
  stages: { name: string; base: string; instructions: DockerInstruction[] }[];
  warnings: { rule: string; message: string; line: number }[];
}

export interface CheckResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Builds deploycheck (or finds it in the cache, keyed by its sources) like the test bed's Go binaries. */
export function deploycheckBinary(): string {
  const built = spawnSync('bash', [join(REPO, 'testbed', 'scripts', 'build-binaries.sh'), 'deploycheck'], {
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`building deploycheck failed:\n${built.stderr}`);
  return built.stdout.trim().split('\n').at(-1) ?? '';
}

/** A cold Go build of BuildKit's frontend takes minutes on 2 cores: the hook timeout for it. */
export const BUILD_TIMEOUT_MS = 15 * 60_000;

export async function deploycheck(checker: string, ...args: string[]): Promise<CheckResult> {
  try {
    const { stdout, stderr } = await run(checker, args, { maxBuffer: 32 * 1024 * 1024, cwd: REPO });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface DockerModel {
  checker: string;
  project: ComposeProject;
  dockerfile: DockerfileModel;
  /** Paths (relative, with /) of the files `docker build .` would send. */
  context: Set<string>;
}

/** Loads all three; throws with the checker's message if one does not pass. */
export async function loadDockerModel(): Promise<DockerModel> {
  const checker = deploycheckBinary();
  const compose = await deploycheck(checker, 'compose', COMPOSE_FILE);
  if (compose.code !== 0) throw new Error(`docker-compose.yml does not load:\n${compose.stderr}`);
  const df = await deploycheck(checker, 'dockerfile', DOCKERFILE);
  if (df.code !== 0) throw new Error(`Dockerfile does not pass:\n${df.stderr}`);
  const ctx = await deploycheck(checker, 'context', REPO);
  if (ctx.code !== 0) throw new Error(`build context: ${ctx.stderr}`);
  return {
    checker,
    project: JSON.parse(compose.stdout) as ComposeProject,
    dockerfile: JSON.parse(df.stdout) as DockerfileModel,
    context: new Set(ctx.stdout.split('\n').filter(Boolean)),
  };
}

/** The program a Longshore container runs: the bundle (dist/<name>.mjs) node is given. */
export const program = (s: ComposeService): string | undefined =>
  [...(s.entrypoint ?? []), ...(s.command ?? [])].find((a) => a.endsWith('.mjs'));

/** A container's environment, unset values as empty strings. */
export const env = (s: ComposeService): Record<string, string> =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v ?? '']));

/** The port a container's health check asks (the URL in its command). */
export const healthPort = (s: ComposeService): number | undefined => {
  const url = s.healthcheck?.test?.join(' ').match(/https?:\/\/[^/'"\s]+:(\d+)\//);
  return url ? Number(url[1]) : undefined;
};
