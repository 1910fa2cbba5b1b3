import { z } from 'zod';
import { dayLayers } from '../../shared/alerts/layer-shares.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { recordSizeSample, sampleSizes } from '../../shared/usage/size-samples.ts';
import { rollupMetrics } from './metrics.ts';

/**
 * The day an hourly run rolls up: the day of the hour that just ended, so the run at 00:05
 * completes yesterday (its rows are final within an hour of midnight) and the others refresh
 * today.
 */
export const dayOfLastHour = (enqueuedAt: Date) =>
  utcDay(new Date(enqueuedAt.getTime() - 3_600_000));

/**
 * The hourly usage rollup: rebuilds a day of `usage_daily` (per user, API key and day: API calls
 * by route, generations by layer, tokens and cost by model, telemetry pings, rows written,
 * webhook deliveries) and its `cost_daily` row (active users, cost by component, CPAU) whole,
 * from hot and cold rows alike (see `rollup-day.ts`); a rerun writes the same rows.
 * `lowburn usage rollup --from --to` rebuilds a range.
 */
export const rollupUsageJob = defineJob({
  queue: 'rollup-usage',
  description:
    'Rebuild the day of the hour just ended in usage_daily and cost_daily (per user and API key: calls, generations by layer, tokens, cost; per day: cost by component and CPAU).',
  schema: z
    .object({
      // Optional: rebuilds a given day (the CLI's range, a day by hand).
      day: z.iso.date().optional(),
    })
    .strict(),
  options: { attempts: 3, backoffMs: 60_000, timeoutMs: 20 * 60_000, concurrency: 1 },
  schedule: { cron: '5 * * * *', tz: 'UTC' },
  async process(payload, { job, deps, log, signal }) {
    const { config } = deps;
    // The job's own timestamp, not the clock: a retry rolls up the same day.
    const day = payload.day ?? dayOfLastHour(new Date(job.timestamp));
    // Loaded on first use: DuckDB stays out of idle workers.
    const { rollupDay } = await import('./rollup-day.ts');
    const result = await rollupDay(
      {
        db: deps.db,
        redis: deps.redis,
        prefix: config.queuePrefix,
        costs: config.costs,
        databaseUrl: config.database.url,
        storage: deps.storage,
        cacheDir: config.cold.cacheDir,
        duckdb: config.cold.duckdb,
        signal,
      },
      day,
    );
    const metrics = rollupMetrics(deps.metrics);
    metrics.record(result);
    metrics.recordLayers((await dayLayers(deps.db, day, day))[0]);
    // The dashboard's headroom projects the database's and Redis's growth from these samples.
    await recordSizeSample(
      deps.redis,
      config.queuePrefix,
      utcDay(new Date()),
      await sampleSizes(deps.db, deps.redis),
    );
    log.info(
      {
        day,
        rows: result.rows,
        activeUsers: result.activeUsers,
        cpauUsd: result.cost.cpau,
        totalUsd: result.cost.total,
      },
      'rolled up usage',
    );
    return { day, rows: result.rows, activeUsers: result.activeUsers, ...result.cost };
  },
});
