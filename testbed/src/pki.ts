// Credentials for the test bed apiserver: a service-account signing key (also used to
// verify, as envtest does), an admin bearer token in system:masters, and a kubeconfig.
// The apiserver generates its own self-signed serving certificate in its cert dir.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface Pki {
  certDir: string;
  saKeyFile: string;
  tokenFile: string;
  adminToken: string;
}

/**
 * Users the benchmarks run Longshore's services as, one per service, so the apiserver's
 * audit log (which records only this group: see up.ts) counts each service's requests
 * apart from kwok's, the scheduler's and the tests'. They are admins like longshore-admin.
 */
export const BENCH_GROUP = 'longshore:bench';
export const BENCH_USERS = [
  'bench-baseline',
  'bench-claimer',
  'bench-scheduler',
  'bench-gc',
  'bench-constraints',
  'bench-vm-scaler',
] as const;
export type BenchUser = (typeof BENCH_USERS)[number];

export function ensurePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const saKeyFile = join(dir, 'sa.key');
  if (!existsSync(saKeyFile)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(saKeyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
  }
  const tokenFile = join(dir, 'tokens.csv');
  if (!existsSync(tokenFile)) {
    const token = randomBytes(24).toString('hex');
    writeFileSync(tokenFile, `${token},longshore-admin,longshore-admin,"system:masters"\n`, { mode: 0o600 });
  }
  // Added to an existing file too (the apiserver reads it at start, so a test bed started
  // before these lines existed needs a restart to know the bench users).
  const known = new Set(
    readFileSync(tokenFile, 'utf8')
      .split('\n')
      .map((l) => l.split(',')[1]),
  );
  for (const user of BENCH_USERS.filter((u) => !known.has(u))) {
    appendFileSync(
      tokenFile,
      `${randomBytes(24).toString('hex')},${user},${user},"system:masters,${BENCH_GROUP}"\n`,
    );
  }
  const adminToken = readFileSync(tokenFile, 'utf8').split(',')[0]!;
  return { certDir: join(dir, 'serving'), saKeyFile, tokenFile, adminToken };
}

export function kubeconfigYaml(server: string, caFile: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'longshore-testbed', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'longshore-admin', user: { token } }],
    contexts: [
      { name: 'longshore-testbed', context: { cluster: 'longshore-testbed', user: 'longshore-admin' } },
    ],
    'current-context': 'longshore-testbed',
  });
}

/** A bench user's bearer token, from the token file. */
export function benchToken(tokenFile: string, user: BenchUser): string {
  const line = readFileSync(tokenFile, 'utf8')
    .split('\n')
    .find((l) => l.split(',')[1] === user);
  if (!line) throw new Error(`no token for ${user} in ${tokenFile}`);
  return line.split(',')[0]!;
}

/**
 * The apiserver's audit policy: Metadata (verb, resource, user; no bodies) for the bench
 * users only, nothing for anyone else, so tests and kwok pay only the rule match.
 * RequestReceived is left out: one event per request, two for watches (started, complete).
 */
export function auditPolicyYaml(): string {
  return stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [{ level: 'Metadata', userGroups: [BENCH_GROUP] }, { level: 'None' }],
  });
}
