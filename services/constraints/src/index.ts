// Public surface of @longshore/constraints: the pure checks, for tools and tests.
export { type CheckResult, checkConstraints } from './check.ts';
export { parseQuantity, QuantityError } from './quantity.ts';
export { nextStatus } from './status.ts';
