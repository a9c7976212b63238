// Public surface of @longshore/config: the configuration file's schema (docs/config.md),
// its loader with env overrides, and Go-style durations.
export { block, type KeyPolicy } from './blocks.ts';
export {
  DurationError,
  type DurationOptions,
  duration,
  formatDuration,
  optionalDuration,
  parseDuration,
} from './duration.ts';
export { ConfigError, type ConfigIssue, formatPath } from './errors.ts';
export {
  DEFAULT_ENV_PREFIX,
  type Env,
  type LoadConfigOptions,
  loadConfig,
  loadLongshoreConfig,
  type ParseConfigOptions,
  parseConfig,
} from './load.ts';
export {
  describePodSpecProblem,
  NODE_SELECTOR_FORM,
  NODE_SELECTOR_OPERATORS,
  PodSchedulingFields,
  type PodSchedulingRead,
  type PodSpecProblem,
  readPodScheduling,
} from './pod-spec.ts';
export {
  type ProvisionerClass,
  type ProvisionerSecret,
  ProvisionerSecretConfig,
  parseProvisionerSecret,
  provisionerClasses,
} from './provisioner.ts';
export {
  AGENT_CHART_KEYS,
  type AgentConfig,
  type BusConfig,
  type ConstraintCheckerConfig,
  configSecrets,
  configWarnings,
  defaultVmSpec,
  type GcConfig,
  type HttpConfig,
  IDLE_WAIT_DEFAULTS,
  type IdleWaitConfig,
  type KubeSettings,
  LOG_LEVELS,
  LONGSHORE_ENV_ALIASES,
  type LoggingConfig,
  type LogLevel,
  LongshoreConfig,
  type LongshoreConfigInput,
  PROVISIONER_DEFAULTS,
  type ProvisionerClassConfig,
  type ProvisionerConfig,
  type RedisConfig,
  type ResourceClassConfig,
  type TaskPodConfig,
  TOP_LEVEL_CHART_KEYS,
} from './schema.ts';
export { natsServers, tokenProblem } from './values.ts';
