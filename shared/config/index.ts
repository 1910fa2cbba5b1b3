export { parseDuration } from './duration.ts';
export { type EnvName, type EnvVar, envSpec } from './env-spec.ts';
export { type Config, loadConfig, type StorageConfig } from './load-config.ts';
