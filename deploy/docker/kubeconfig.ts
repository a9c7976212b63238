// The compose file's one-shot `kubeconfig` service: k3s writes its admin kubeconfig for
// itself (server https://127.0.0.1:6443); the other containers reach it as `k3s`. This
// copies the file with every cluster's server set to the given URL (k3s runs with
// `--tls-san k3s`, so its certificate is valid for that name).
//
//   node deploy/docker/kubeconfig.ts SOURCE DEST SERVER
//
// It waits up to 5 minutes for SOURCE to appear, writes DEST readable by all (it holds the
// local cluster's admin credentials: fine for a laptop's throwaway k3s, not for anything
// else), atomically, and exits 0; 1 on any error, 2 on bad arguments.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';

interface KubeconfigDoc {
  clusters?: { name?: string; cluster?: { server?: string } }[];
}

/** The kubeconfig text with every cluster's server replaced; throws if it has no cluster. */
export function pointAt(text: string, server: string): string {
  const doc = parse(text) as KubeconfigDoc | null;
  const clusters = doc?.clusters ?? [];
  if (clusters.length === 0) throw new Error('the kubeconfig has no clusters');
  for (const c of clusters) {
    if (!c.cluster) throw new Error(`cluster ${c.name ?? '(unnamed)'} has no cluster entry`);
    c.cluster.server = server;
  }
  return stringify(doc);
}

async function main(args: string[]): Promise<number> {
  const [source, dest, server] = args;
  if (!source || !dest || !server || !/^https:\/\/[^/]+$/.test(server)) {
    console.error('usage: node deploy/docker/kubeconfig.ts SOURCE DEST https://HOST:PORT');
    return 2;
  }
  const deadline = Date.now() + 5 * 60_000;
  while (!existsSync(source)) {
    if (Date.now() > deadline) {
      console.error(`kubeconfig: ${source} did not appear within 5 minutes (is k3s running?)`);
      return 1;
    }
    await sleep(1_000);
  }
  writeFileSync(`${dest}.tmp`, pointAt(readFileSync(source, 'utf8'), server), { mode: 0o644 });
  renameSync(`${dest}.tmp`, dest);
  console.log(`kubeconfig: wrote ${dest} (server ${server})`);
  return 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    console.error(`kubeconfig: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
