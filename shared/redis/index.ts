export { createProducerConnection, createWorkerConnection } from './connections.ts';
export { inspectRedis, type RedisSafety, redisPreflight } from './preflight.ts';
