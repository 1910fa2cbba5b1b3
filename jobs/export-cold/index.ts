import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { partitionedTables } from '../../shared/db/partitions.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { exportCold, HotDayError } from './export-cold.ts';
import { exportMetrics } from './metrics.ts';

const tableNames = Object.keys(partitionedTables) as [keyof typeof partitionedTables];

/**
 * Moves every hot-table day older than `HOT_RETENTION` to zstd Parquet in object storage,
 * verifies it, then drops the partition; see `export-day.ts` for the state machine.
 */
export const exportColdJob = defineJob({
  queue: 'export-cold',
  description:
    'Export day partitions older than HOT_RETENTION to Parquet in object storage, verify, then drop them.',
  schema: z
    .object({
      /** Export only this UTC day (`YYYY-MM-DD`); it must be older than the hot window. */
      day: z.iso.date().optional(),
      /** Export only this table. */
      table: z.enum(tableNames).optional(),
    })
    .strict(),
  // One at a time; a Postgres session lock also keeps two workers from exporting at once.
  options: { attempts: 5, backoffMs: 60_000, timeoutMs: 2 * 60 * 60_000, concurrency: 1 },
  schedule: (config) => ({ cron: config.cold.exportCron }),
  async process(payload, { deps, signal, log }) {
    const { config } = deps;
    const metrics = exportMetrics(deps.metrics);
    const started = performance.now();
    try {
      const result = await exportCold({
        db: deps.db,
        databaseUrl: config.database.url,
        storage: deps.storage,
        log,
        duckdb: config.cold.duckdb,
        workDir: config.cold.workDir,
        rowsPerFile: config.cold.rowsPerFile,
        hotRetentionMs: config.cold.hotRetentionMs,
        dropGraceMs: config.cold.dropGraceMs,
        partitionDaysAhead: config.worker.partitionDaysAhead,
        tables: payload.table ? [payload.table] : undefined,
        day: payload.day,
        signal,
      });
      for (const day of result.days) {
        metrics.days.inc({ table: day.table, state: day.state });
        metrics.lateRows.inc({ table: day.table }, day.lateRows);
        if (day.state === 'dropped') metrics.rows.inc({ table: day.table }, day.rows);
      }
      metrics.duration.observe((performance.now() - started) / 1000);
      if (result.ran) metrics.lastSuccess.setToCurrentTime();
      return result;
    } catch (error) {
      if (error instanceof HotDayError) throw new UnrecoverableError(error.message);
      throw error;
    }
  },
});
