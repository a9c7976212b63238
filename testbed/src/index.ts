// Public surface of @longshore/testbed used by tests, the main job and benchmarks.
export { ENV_FILE, REPO_ROOT, readTestbedEnv, type TestbedEnv } from './env.ts';
