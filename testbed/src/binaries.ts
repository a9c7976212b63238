// Locates the binaries the test bed runs: Debian's (nats-server, redis-server, on PATH) and
// the Go-built ones (etcd, kube-apiserver, kube-scheduler, kwok) in the version-keyed cache
// that testbed/scripts/build-binaries.sh fills.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TestbedError } from './processes.ts';

export const KUBE_VERSION = process.env.KUBE_VERSION ?? 'v1.34.4';
export const KWOK_VERSION = process.env.KWOK_VERSION ?? 'v0.8.0';
export const ETCD_VERSION = process.env.ETCD_VERSION ?? 'v3.6.6';
export const HELM_VERSION = process.env.HELM_VERSION ?? 'v3.22.0';

function cacheBin(): string {
  return join(process.env.LONGSHORE_CACHE ?? join(homedir(), '.cache', 'longshore'), 'bin');
}

function onPath(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin']) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  throw new TestbedError(`${name} not found on PATH: run scripts/ensure-deps.sh (installs it from Debian)`);
}

function built(name: string, version: string): string {
  const p = join(cacheBin(), `${name}-${version}`);
  if (!existsSync(p)) {
    throw new TestbedError(
      `${p} missing: run testbed/scripts/build-binaries.sh (builds it from the Go module proxy)`,
    );
  }
  return p;
}

export function binaries() {
  return {
    etcd: built('etcd', ETCD_VERSION),
    nats: onPath('nats-server'),
    redis: onPath('redis-server'),
    apiserver: built('kube-apiserver', KUBE_VERSION),
    scheduler: built('kube-scheduler', KUBE_VERSION),
    kwok: built('kwok', KWOK_VERSION),
  };
}

export function versionOf(bin: string, args = ['--version']): string {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/** helm, which the deploy tests run to lint and render the chart (they install no release). */
export function helmBinary(): string {
  return built('helm', HELM_VERSION);
}
