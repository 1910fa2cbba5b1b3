import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for BullMQ workers and long-running jobs. `maxRetriesPerRequest: null` is what
 * BullMQ requires of blocking connections: commands wait through a Redis restart instead of
 * failing the worker.
 */
export function createWorkerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: 'lowburn-worker',
    ...options,
  });
}

/**
 * A connection for producers (the API, the CLI's `run`): fails fast while Redis is down, so a
 * request answers 503 at once instead of hanging or claiming work was queued.
 */
export function createProducerConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    connectionName: 'lowburn-producer',
    // Keep reconnecting in the background; requests meanwhile fail fast.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...options,
  });
}
