// Public surface of @longshore/contracts: the vocabulary every service and tool shares.
export * from './claim-state.ts';
export * from './events.ts';
export * from './image-ref.ts';
export * from './kube-names.ts';
export * from './pod-check.ts';
export * from './redis-keys.ts';
export * from './runner-api.ts';
export * from './subjects.ts';
export * from './task-events.ts';
export * from './task-pod.ts';
