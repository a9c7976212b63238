// Public surface of @longshore/testbed used by tests, the main job and benchmarks.
export { ENV_FILE, REPO_ROOT, readTestbedEnv, type TestbedEnv } from './env.ts';
export { defaultFleet, type NodeShape } from './fleet.ts';
export { down, status, type UpOptions, type UpResult, up } from './up.ts';
