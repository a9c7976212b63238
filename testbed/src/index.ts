// Public surface of @longshore/testbed used by tests, the main job and benchmarks.
export { apiserverArgs, restartApiserver } from './apiserver.ts';
export { ENV_FILE, REPO_ROOT, readTestbedEnv, type TestbedEnv } from './env.ts';
export { defaultFleet, KWOK_NODE_ANNOTATION, type NodeShape, nodeObject } from './fleet.ts';
export { COMPONENTS, layout } from './layout.ts';
export { type TempNamespace, tempNamespace } from './namespaces.ts';
export {
  NatsCluster,
  NatsClusterError,
  type NatsClusterOptions,
  type NatsNode,
  natsNodeConfig,
  type StreamPlacement,
} from './nats-cluster.ts';
export { ScratchServer, TcpProxy } from './outage.ts';
export { BENCH_USERS, type BenchUser, benchToken } from './pki.ts';
export { parseRedisInfo, type RedisReply, RedisReplyError, redisCommand } from './probes.ts';
export { freePort, stopChild } from './processes.ts';
export {
  type FailoverOptions,
  type FailoverResult,
  RedisFailover,
  RedisFailoverError,
} from './redis-failover.ts';
export { type ServiceName, ServiceProcess, type SpawnServiceOptions } from './service-process.ts';
export { down, status, type UpOptions, type UpResult, up } from './up.ts';
// Also in ./testing; kept here for bench/src/chaos.ts, which imports it from the main entry.
export { waitFor } from './wait.ts';
