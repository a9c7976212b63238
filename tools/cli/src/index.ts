// Public surface of @longshore/cli for tests and benchmarks that drive it in-process.
export { configCheck, type Io } from './config-check.ts';
export { type StartOptions, start } from './start.ts';
// `status` prints each class's constraint status and open claims.
export { type ClassStatus, classStatuses, formatStatus, type StatusOptions, status } from './status.ts';
// `tap` streams the bus as a timeline; the main job runs it in-process on its own bus.
export { TapError, type TapEvent, type TapOptions, tap } from './tap.ts';
export { formatEvent } from './timeline.ts';
