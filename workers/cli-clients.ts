import type { Db } from '../shared/db/create-db.ts';
import type { Queues } from '../shared/queue/queues.ts';
import { bootConfig, processLogger } from './process.ts';

/** Runs a CLI command's work with a small Postgres pool of its own, closed afterwards. */
export async function withDb<T>(name: string, run: (db: Db) => Promise<T>): Promise<T> {
  const config = bootConfig();
  const log = processLogger(config, name);
  const { createDb } = await import('../shared/db/create-db.ts');
  const { db } = createDb({
    url: config.database.url,
    poolMax: 2,
    log,
    applicationName: `lowburn-${name}`,
  });
  try {
    return await run(db);
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
  const connection = createProducerConnection(config.redis.url, { enableOfflineQueue: true });
  const queues = new Queues({ connection, prefix: config.queuePrefix });
  try {
    return await run(queues);
  } finally {
    await queues.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}
