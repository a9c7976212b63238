// Credentials for the test bed apiserver: a service-account signing key (also used to
// verify, as envtest does), an admin bearer token in system:masters, and a kubeconfig.
// The apiserver generates its own self-signed serving certificate in its cert dir.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface Pki {
  certDir: string;
  saKeyFile: string;
  tokenFile: string;
  adminToken: string;
}

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
