// @longshore/testbed/testing: the one surface tests use to run things against the test bed.
// A fleet of services end to end, throwaway namespaces and apiserver helpers, services as
// processes, and the two ways of waiting. The main entry (@longshore/testbed) is the test
// bed itself: bringing it up, and the servers the main job and the bench start.

export { readTestbedEnv, type TestbedEnv } from '../env.ts';
export { type TempNamespace, tempNamespace } from '../namespaces.ts';
export { freePort, stopChild } from '../processes.ts';
export { type PrometheusOptions, PrometheusServer, PromQueryError, type PromSample } from '../prometheus.ts';
export {
  type ServiceName,
  ServiceProcess,
  type SpawnServiceOptions,
  spawnService,
} from '../service-process.ts';
export { eventually, type WaitOptions, waitFor } from '../wait.ts';
export { type CapturedEvent, type ClassSpec, Fleet, type FleetOptions, type PodSightings } from './fleet.ts';
export { simplePod, testKube, vmWithInstance, waitForPod } from './kube.ts';
