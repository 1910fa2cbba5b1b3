import { z } from 'zod';
import { ensurePartitions } from '../../shared/db/partitions.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';

/**
 * Keeps the day partitions of every hot table created ahead of time, so inserts never hit a
 * day without one. Idempotent: a second run creates nothing.
 */
export const maintainPartitions = defineJob({
  queue: 'maintain-partitions',
  description: 'Create the next N days of partitions for every partitioned table.',
  schema: z
    .object({
      /** Days ahead, including today; defaults to `PARTITION_DAYS_AHEAD`. */
      days: z.number().int().min(1).max(366).optional(),
      /** First day to create (`YYYY-MM-DD`, UTC); defaults to today. */
      from: z.iso.date().optional(),
    })
    .strict(),
  options: { attempts: 5, timeoutMs: 60_000, concurrency: 1, runAtStart: true },
  schedule: { cron: '5 0 * * *', tz: 'UTC' },
  async process(payload, { deps, log }) {
    const from = payload.from ? new Date(`${payload.from}T00:00:00Z`) : new Date();
    const days = payload.days ?? deps.config.worker.partitionDaysAhead;
    const created = await ensurePartitions(deps.db, { from, days });
    if (created.length > 0) log.info({ created }, 'created partitions');
    return { created };
  },
});
