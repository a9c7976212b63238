// The test bed's kube-apiserver: its flags in one place (up.ts starts it with them), and a
// restart for the chaos suite: kill -9, down for a while, started again with the same flags,
// port, certificates and etcd, so that clients see exactly what a real apiserver restart
// looks like (connections reset, watches broken, then the same server back).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { binaries } from './binaries.ts';
import { layout } from './layout.ts';
import { ensurePki, type Pki } from './pki.ts';
import { httpsGet } from './probes.ts';
import { isAlive, readPid, startProcess, TestbedError } from './processes.ts';
import { waitFor } from './wait.ts';

export function apiserverArgs(ports: { etcd: number; apiserver: number }, pki: Pki): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${ports.apiserver}`,
    `--cert-dir=${pki.certDir}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saKeyFile}`,
    `--service-account-signing-key-file=${pki.saKeyFile}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--authorization-mode=RBAC',
    `--token-auth-file=${pki.tokenFile}`,
    // No controller-manager runs: nothing would mint SA tokens or lift the not-ready taint.
    '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
    '--allow-privileged=true',
    '--endpoint-reconciler-type=none',
    // The test bed is also the benchmarks' bed: no client-side fairness queuing in the way.
    '--enable-priority-and-fairness=false',
    '--max-requests-inflight=0',
    '--max-mutating-requests-inflight=0',
    // For the benchmarks' request counts: only the bench users' requests are written
    // (Metadata level), everyone else's are matched to `None` and cost nothing more.
    `--audit-policy-file=${layout.auditPolicy}`,
    `--audit-log-path=${layout.auditLog}`,
    '--audit-log-format=json',
    '--audit-log-maxsize=2048',
    '--audit-log-maxbackup=1',
    '--v=0',
  ];
}

/** Waits until the apiserver on `port` answers /readyz with 200. */
export async function waitForApiserver(port: number, pki: Pki, pid?: number): Promise<void> {
  const caFile = join(pki.certDir, 'apiserver.crt');
  await waitFor(
    'kube-apiserver',
    async () =>
      existsSync(caFile) &&
      (
        await httpsGet(`https://127.0.0.1:${port}/readyz`, {
          token: pki.adminToken,
          ca: readFileSync(caFile, 'utf8'),
        })
      ).status === 200,
    { timeoutMs: 90_000, ...(pid === undefined ? {} : { pid }), logFile: layout.log('kube-apiserver') },
  );
}

/**
 * Kills the running test bed's apiserver (SIGKILL), keeps it down for `downMs`, starts it again
 * as it was and waits until it is ready. Resolves with how long it was unavailable.
 */
export async function restartApiserver(downMs = 2_000): Promise<number> {
  const state = JSON.parse(readFileSync(layout.state, 'utf8')) as {
    ports: { etcd: number; apiserver: number };
  };
  const pidFile = layout.pid('kube-apiserver');
  const pid = readPid(pidFile);
  if (pid === undefined || !isAlive(pid)) throw new TestbedError('the test bed apiserver is not running');
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
  await sleep(downMs);
  const pki = ensurePki(layout.pki);
  const again = startProcess({
    name: 'kube-apiserver',
    command: binaries().apiserver,
    args: apiserverArgs(state.ports, pki),
    logFile: layout.log('kube-apiserver'),
    pidFile,
  });
  await waitForApiserver(state.ports.apiserver, pki, again);
  return Date.now() - t0;
}
