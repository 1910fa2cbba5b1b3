import { queues as contracts, jobs } from '../jobs/index.ts';
import { ApiKeyResolver } from '../shared/api-keys/api-key-cache.ts';
import type { Config } from '../shared/config/load-config.ts';
import { createDb } from '../shared/db/create-db.ts';
import type { Logger } from '../shared/log/logger.ts';
import type { QueueContract } from '../shared/queue/job-definition.ts';
import { Queues } from '../shared/queue/queues.ts';
import { createProducerConnection } from '../shared/redis/connections.ts';
import type { ApiDeps } from './deps.ts';

/** Scheduled jobs: the ones an operator may also run now through the API. */
const pipelines: Record<string, QueueContract> = Object.fromEntries(
  Object.values(jobs)
    .filter((job) => job.schedule)
    .map((job) => [job.queue, job]),
);

/**
 * Opens what the API needs from a parsed config: a fail-fast Redis producer connection, a small
 * Postgres pool (keys and idempotency only) and the cached key resolver.
 */
export function connectApi(
  config: Config,
  log: Logger,
  options: { now?: () => number } = {},
): { deps: ApiDeps; close(): Promise<void> } {
  // No auto-pipelining: each flush builds an ioredis Pipeline that copies every Lua script
  // BullMQ defines on the connection (~3.5 % of the API's CPU); with two round trips per
  // request there is little to batch anyway (bench:api, same ratio, lower p99 without it).
  const redis = createProducerConnection(config.redis);
  redis.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  const { db } = createDb({
    url: config.database.url,
    poolMax: config.database.poolMax,
    preparedStatements: config.database.preparedStatements,
    log,
  });
  const queues = new Queues({ connection: redis, prefix: config.queuePrefix });
  const keys = new ApiKeyResolver({
    db,
    log,
    ttlMs: config.api.keyCacheTtlMs,
    staleIfErrorMs: config.api.keyStaleIfErrorMs,
  });
  return {
    deps: {
      config: config.api,
      telemetry: config.telemetry,
      redis,
      db,
      queues,
      keys,
      contracts,
      pipelines,
      log,
      secretsKey: config.secrets.key,
      ...(options.now && { now: options.now }),
    },
    async close() {
      await keys.flush();
      await queues.close();
      await db.destroy();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
