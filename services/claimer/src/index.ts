// Public surface of @longshore/claimer, for the main job and tests that run it in-process.
export { type BackoffPolicy, DEFAULT_BACKOFF, nextDelay } from './backoff.ts';
export { Capacity } from './capacity.ts';
export { type ClaimerDeps, type RunningClaimer, startClaimer } from './claimer.ts';
export { resolveTokens, secretKeyOf, TokenConfigError } from './tokens.ts';
