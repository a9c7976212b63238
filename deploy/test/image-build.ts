// The real image, as scripts/build-image.sh builds it (buildah, no daemon) into the
// project's own container store, and podman pointed at that store. Shared by the image
// test and anything else that runs the image.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './docker-model.ts';

const run = promisify(execFile);

/** What build-image.sh writes to .testbed/image/image.env. */
export interface BuiltImage {
  /** localhost/longshore:dev */
  ref: string;
  id: string;
  /** The Dockerfile's base image, pulled or the script's stand-in. */
  base: string;
  archive: string;
  /** The environment that points podman at the project's store. */
  env: NodeJS.ProcessEnv;
}

export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
}

export class PodmanError extends Error {
  override name = 'PodmanError';
}

/**
 * Runs scripts/build-image.sh (with every layer cached, seconds: it is run anyway so that
 * the image is always of the current tree) and reads what it built.
 */
export function buildImage(): BuiltImage {
  const built = spawnSync('bash', [join(REPO, 'scripts', 'build-image.sh')], { encoding: 'utf8' });
  if (built.status !== 0) throw new ImageBuildError(`scripts/build-image.sh failed:\n${built.stderr}`);
  const file = join(REPO, '.testbed', 'image', 'image.env');
  const vars = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const need = (k: string): string => {
    const v = vars[k];
    if (!v) throw new ImageBuildError(`${file} has no ${k}`);
    return v;
  };
  return {
    ref: need('LONGSHORE_IMAGE'),
    id: need('LONGSHORE_IMAGE_ID'),
    base: need('LONGSHORE_IMAGE_BASE'),
    archive: need('LONGSHORE_IMAGE_ARCHIVE'),
    env: {
      ...process.env,
      CONTAINERS_CONF: need('CONTAINERS_CONF'),
      CONTAINERS_STORAGE_CONF: need('CONTAINERS_STORAGE_CONF'),
    },
  };
}

/** `podman <args>` against the image's store; its standard output. */
export async function podman(image: BuiltImage, ...args: string[]): Promise<string> {
  return (await podmanOutput(image, ...args)).stdout;
}

/** A container's log: what its program wrote to stdout, then what it wrote to stderr. */
export async function containerLog(image: BuiltImage, name: string, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await podmanOutput(image, 'logs', ...args, name);
  return `${stdout}${stderr}`;
}

async function podmanOutput(
  image: BuiltImage,
  ...args: string[]
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run('podman', args, { env: image.env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stderr?: string };
    throw new PodmanError(`podman ${args.join(' ')}: ${e.stderr?.trim() ?? ''}`, { cause: error });
  }
}

/** `podman <args>` whatever its exit status: the status and both outputs. */
export async function podmanExit(
  image: BuiltImage,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await run('podman', args, { env: image.env, maxBuffer: 64 * 1024 * 1024 })) };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
