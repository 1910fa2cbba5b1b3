import type { Config } from '../shared/config/load-config.ts';
import type { ProcessName } from '../shared/config/process-requirements.ts';
import type { Db } from '../shared/db/create-db.ts';
import type { Logger } from '../shared/log/logger.ts';
import type { Queues } from '../shared/queue/queues.ts';
import type { RedisClient } from '../shared/redis/connections.ts';
import { bootConfig, processLogger } from './process.ts';

/**
 * Runs a CLI command's work with a small Postgres pool of its own, closed afterwards.
 * `process` names the command when it needs settings of its own (`keys create`: SECRETS_KEY).
 */
export async function withDb<T>(
  name: string,
  run: (db: Db, context: { config: Config; log: Logger }) => Promise<T>,
  process: ProcessName = 'cli',
): Promise<T> {
  const config = bootConfig(process);
  const log = processLogger(config, name);
  const { createDb } = await import('../shared/db/create-db.ts');
  const { db } = createDb({
    url: config.database.url,
    poolMax: 2,
    preparedStatements: config.database.preparedStatements,
    log,
    applicationName: `lowburn-${name}`,
  });
  try {
    return await run(db, { config, log });
  } finally {
    await db.destroy();
  }
}

/** Runs a CLI command's work with a producer connection and its queues, closed afterwards. */
export async function withQueues<T>(run: (queues: Queues) => Promise<T>): Promise<T> {
  const config = bootConfig();
  const { createProducerConnection } = await import('../shared/redis/connections.ts');
  const { Queues } = await import('../shared/queue/queues.ts');
  // Waits for the connection instead of failing the first command: a CLI has no retry loop.
  const connection = createProducerConnection(config.redis, { enableOfflineQueue: true });
  const queues = new Queues({ connection, prefix: config.queuePrefix });
  try {
    return await run(queues);
  } finally {
    await queues.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** Runs a CLI command's work with a Redis connection of its own, closed afterwards. */
export async function withRedis<T>(
  run: (redis: RedisClient, config: Config) => Promise<T>,
): Promise<T> {
  const config = bootConfig();
  const { createProducerConnection } = await import('../shared/redis/connections.ts');
  // Waits for the connection instead of failing the first command: a CLI has no retry loop.
  const redis = createProducerConnection(config.redis, {
    enableOfflineQueue: true,
    connectionName: 'lowburn-cli',
  });
  try {
    return await run(redis, config);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
