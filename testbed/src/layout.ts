// Where the test bed keeps its state: everything under <repo>/.testbed (git-ignored),
// except etcd's data, which goes to tmpfs when there is one (fsync there is cheap, and
// the apiserver's write latency is etcd's fsync latency).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TESTBED_DIR } from './env.ts';

export const COMPONENTS = ['etcd', 'nats', 'redis', 'kube-apiserver', 'kube-scheduler', 'kwok'] as const;
export type Component = (typeof COMPONENTS)[number];

export const layout = {
  dir: TESTBED_DIR,
  logs: join(TESTBED_DIR, 'logs'),
  pki: join(TESTBED_DIR, 'pki'),
  data: join(TESTBED_DIR, 'data'),
  state: join(TESTBED_DIR, 'state.json'),
  kubeconfig: join(TESTBED_DIR, 'kubeconfig'),
  /** The apiserver's audit log: the benchmarks' users only (see pki.ts). */
  auditLog: join(TESTBED_DIR, 'logs', 'audit.log'),
  auditPolicy: join(TESTBED_DIR, 'audit-policy.yaml'),
  log: (c: Component) => join(TESTBED_DIR, 'logs', `${c}.log`),
  pid: (c: Component) => join(TESTBED_DIR, `${c}.pid`),
  etcdData: () =>
    existsSync('/dev/shm')
      ? join('/dev/shm', `longshore-etcd-${process.getuid?.() ?? 0}`)
      : join(TESTBED_DIR, 'data', 'etcd'),
};
