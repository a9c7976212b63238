// Public surface of @longshore/kube: loading credentials, the API clients we use, a raw
// request for objects that must reach the apiserver as written, reading the errors the
// apiserver returns, and observing every request (for metrics).
export { type KubeClients, kubeClients } from './clients.ts';
export {
  contextNamespace,
  KubeConfigError,
  type LoadKubeConfigOptions,
  loadKubeConfig,
  SERVICE_ACCOUNT_DIR,
} from './config.ts';
export {
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
  type KubeStatus,
  kubeErrorMessage,
  kubeStatusOf,
  statusCodeOf,
} from './errors.ts';
export type { KubeOutcome, KubeRequestObserver, KubeVerb } from './observe.ts';
export { PooledKubeConfig, type PooledKubeConfigOptions } from './pooled.ts';
export { type KubeRequest, KubeRequestError, kubeRequest } from './raw-request.ts';
