export { ChecksumMismatchError } from './checksum-mismatch-error.ts';
export { ConfigError, type ConfigIssue } from './config-error.ts';
export { InvalidObjectKeyError } from './invalid-object-key-error.ts';
export { InvalidPayloadError, type PayloadIssue } from './invalid-payload-error.ts';
export { JobTimeoutError } from './job-timeout-error.ts';
export { ObjectNotFoundError } from './object-not-found-error.ts';
export { RedisPreflightError } from './redis-preflight-error.ts';
export { WorkerShutdownError } from './worker-shutdown-error.ts';
