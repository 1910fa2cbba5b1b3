import type { Server } from 'node:http';
import type { Config } from '../shared/config/load-config.ts';
import { checkConnectionBudget } from '../shared/db/connection-budget.ts';
import { ConfigError } from '../shared/errors/config-error.ts';
import { ModelServersError } from '../shared/errors/model-servers-error.ts';
import { checkModelServers } from '../shared/inference/model-servers-check.ts';
import type { Logger } from '../shared/log/logger.ts';
import { type AnyJobDefinition, resolveSchedule } from '../shared/queue/job-definition.ts';
import { redisPreflight } from '../shared/redis/preflight.ts';
import { openDeps } from './runtime/deps.ts';
import { startFleet } from './runtime/fleet.ts';
import { serveHealth } from './runtime/health-server.ts';
import { syncSchedulers } from './runtime/schedulers.ts';

export interface RunningWorker {
  queues: string[];
  healthPort: number;
  /** Drains within the configured grace period, then releases every connection. */
  stop(): Promise<{ handedBack: number }>;
}

/** The jobs named by `WORKER_QUEUES`, or a config error listing the valid names. */
export function selectJobs(
  catalog: Record<string, AnyJobDefinition>,
  wanted: 'all' | string[],
): AnyJobDefinition[] {
  if (wanted === 'all') return Object.values(catalog);
  const unknown = wanted.filter((name) => !Object.hasOwn(catalog, name));
  if (unknown.length > 0) {
    throw new ConfigError([
      {
        variable: 'WORKER_QUEUES',
        problem: `names unknown queue(s) ${unknown.join(', ')}; known: ${Object.keys(catalog).join(', ')}`,
        example: Object.keys(catalog).slice(0, 2).join(','),
      },
    ]);
  }
  return wanted.map((name) => catalog[name] as AnyJobDefinition);
}

// The queues whose jobs ask the local models. Named here: job definitions do not say so.
const MODEL_QUEUES = ['generate', 'precompute-cache', 'audit-cache', 'shadow-compare'];

/**
 * Every model server must serve the same models: a server that disagrees refuses the boot,
 * naming it; one that cannot be read now is only warned about (it is probed before use).
 */
async function modelServersPreflight(config: Config, log: Logger): Promise<void> {
  const { inference } = config;
  const found = await checkModelServers({
    urls: inference.ollamaUrls,
    localModel: inference.localModel,
    embedModel: inference.embedModel,
  });
  for (const warning of found.warnings) log.warn(warning);
  if (found.mismatches.length > 0) throw new ModelServersError(found.mismatches);
  log.info({ servers: inference.ollamaUrls.length }, 'model servers checked');
}

/**
 * Boots a worker process: Redis preflight, model servers checked (when it runs a model queue), schedules synced once per fleet, one BullMQ worker
 * per selected queue, `/healthz` and `/metrics`.
 */
export async function startWorker(options: {
  config: Config;
  catalog: Record<string, AnyJobDefinition>;
  log: Logger;
}): Promise<RunningWorker> {
  const { config, catalog, log } = options;
  const selected = selectJobs(catalog, config.worker.queues);
  const deps = await openDeps(config, log, Object.keys(catalog));
  let server: Server | undefined;
  try {
    await redisPreflight(deps.redis, { env: config.env, log });
    if (selected.some((job) => MODEL_QUEUES.includes(job.queue))) {
      await modelServersPreflight(config, log);
    }
    await syncSchedulers({
      connection: deps.redis,
      prefix: config.queuePrefix,
      jobs: Object.values(catalog),
      config,
      log,
    });
    const metrics = deps.workerMetrics;
    const fleet = startFleet({
      jobs: selected,
      deps,
      connection: deps.redis,
      prefix: config.queuePrefix,
      concurrency: config.worker.concurrency,
      metrics,
      log,
    });
    metrics.watch(selected.map((job) => deps.queues.get(job)));
    for (const job of selected.filter((j) => j.options?.runAtStart)) {
      // Deduplicated: ten workers starting together enqueue one run.
      await deps.queues.add(job, resolveSchedule(job, config)?.payload ?? {}, {
        deduplication: { id: 'at-start', ttl: 60_000 },
      });
    }
    let healthPort: number;
    ({ server, port: healthPort } = await serveHealth(
      { redis: deps.redis, db: deps.db, metrics },
      config.worker.healthPort,
    ));
    const queues = selected.map((j) => j.queue);
    log.info({ queues, healthPort, dbPoolMax: config.database.poolMax }, 'worker ready');
    // Not awaited: a Postgres down at boot must not hold the worker (its jobs retry meanwhile).
    void checkConnectionBudget(deps.db, deps.pool, deps.statements, config.database, log);
    if (config.shadow.offWithoutFrontier) {
      log.warn(
        'SHADOW_SAMPLE_RATE is set but no frontier model is (FRONTIER_URL): shadow comparison is off',
      );
    }
    return {
      queues,
      healthPort,
      async stop() {
        log.info({ graceMs: config.worker.shutdownGraceMs }, 'draining');
        const result = await fleet.drain(config.worker.shutdownGraceMs);
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        await deps.close();
        log.info(result, 'worker stopped');
        return result;
      },
    };
  } catch (error) {
    server?.close();
    await deps.close();
    throw error;
  }
}
