// Public surface of @longshore/runtime: the start-up every service shares.
export { bootService, type Service } from './boot.ts';
