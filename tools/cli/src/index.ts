// Public surface of @longshore/cli for tests and benchmarks that drive it in-process.
export { configCheck, type Io } from './config-check.ts';
export { type StartOptions, start } from './start.ts';
