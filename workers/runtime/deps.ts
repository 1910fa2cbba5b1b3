import type pg from 'pg';
import type { Config } from '../../shared/config/load-config.ts';
import { createDb } from '../../shared/db/create-db.ts';
import type { StatementPlan } from '../../shared/db/statement-plan.ts';
import { modelServerMetrics } from '../../shared/inference/model-server-metrics.ts';
import { modelServersFor } from '../../shared/inference/model-servers.ts';
import { recordModelVersion } from '../../shared/inference/model-versions.ts';
import { processGeneration } from '../../shared/inference/process-pipeline.ts';
import type { Logger } from '../../shared/log/logger.ts';
import { createWorkerMetrics, type WorkerMetrics } from '../../shared/metrics/registry.ts';
import type { JobDeps } from '../../shared/queue/job-definition.ts';
import { Queues } from '../../shared/queue/queues.ts';
import { createWorkerConnection } from '../../shared/redis/connections.ts';
import { createStorage } from '../../shared/storage/create-storage.ts';
import { processWebhookClient } from '../../shared/webhooks/process-client.ts';
import { processKeyring } from '../process.ts';

/** Everything a process opened, with one `close()` that releases it all. */
export interface ProcessDeps extends JobDeps {
  queues: Queues;
  /** The pool under `db`, and its prepared-statement plan (the boot's connection budget). */
  pool: pg.Pool;
  statements: StatementPlan;
  workerMetrics: WorkerMetrics;
  close(): Promise<void>;
}

/**
 * Opens the clients a worker process passes to its jobs: one pool, one Redis, one storage.
 * `queueNames` are the catalog's queues, all of them, whichever this process runs.
 */
export async function openDeps(
  config: Config,
  log: Logger,
  queueNames: readonly string[],
): Promise<ProcessDeps> {
  const storage = await createStorage(config.storage);
  const { db, pool, statements } = createDb({
    url: config.database.url,
    poolMax: config.database.poolMax,
    preparedStatements: config.database.preparedStatements,
    log,
  });
  const redis = createWorkerConnection(config.redis);
  redis.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  const queues = new Queues({ connection: redis, prefix: config.queuePrefix });
  const workerMetrics = createWorkerMetrics();
  modelServerMetrics(workerMetrics.registry, modelServersFor(config.inference, log));
  const webhookClient = processWebhookClient(config.webhooks);
  const generation = processGeneration(config, redis, log, {
    // Every worker records what it reads; the table's unique constraint keeps one row each.
    onLocalModelDigest: (digest) => {
      const seen = {
        localModel: config.inference.localModel,
        version: config.inference.localModelVersion,
        digest,
      };
      recordModelVersion(db, seen).then(
        (recorded) => recorded && log.info(seen, 'new local model version recorded'),
        (error: unknown) => log.warn({ err: error }, 'could not record the local model version'),
      );
    },
  });
  return {
    workerMetrics,
    metrics: workerMetrics.registry,
    config,
    db,
    redis,
    storage,
    log,
    queues,
    pool,
    statements,
    queueNames,
    secrets: processKeyring(config, log),
    webhookClient,
    generation,
    enqueue: (definition, payload, options) => queues.add(definition, payload, options),
    async close() {
      // After the fleet drained: no delivery is in flight, so only idle sockets are closed.
      webhookClient.close();
      await generation.close();
      await queues.close();
      await Promise.allSettled([db.destroy(), storage.close()]);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
