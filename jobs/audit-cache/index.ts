import { utcDay } from '../../shared/db/partitions.ts';
import { auditCacheQueue } from '../../shared/generation/audit-cache-queue.ts';
import { isNoModelReachable } from '../../shared/inference/no-fallback-error.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { recordAudit } from './ledger.ts';
import { auditMetrics } from './metrics.ts';
import { logAudit } from './report.ts';

/** The day an audit enqueued at `enqueuedAt` looks at: the UTC day before, complete by then. */
export const dayBefore = (enqueuedAt: Date) => utcDay(enqueuedAt, -1);

/**
 * The nightly false-hit audit of the semantic cache: asks the local model a sample of a day's
 * semantic hits again and stores the false-hit rate per task type, with its 95 % Wilson
 * interval, in `cache_audits`, as metrics and in the log (see `audit-cache.ts`). No schedule of
 * its own: it belongs after the nightly precompute, which is to enqueue it when it finishes (by
 * `auditCacheQueue`), so the two never share the local model;
 * `lowburn run audit-cache --payload '{"day":"2026-11-20"}'` runs it by hand.
 */
export const auditCacheJob = defineJob({
  ...auditCacheQueue,
  // A local model server that refuses connections is waited out, as generations wait it out.
  waitsOut: (error, config) =>
    isNoModelReachable(error)
      ? { reason: 'model_unreachable', forMs: config.inference.modelOutageWaitMs }
      : undefined,
  async process(payload, { job, deps, signal, log }) {
    const { config } = deps;
    // The job's own timestamp, not the clock: a retry after midnight audits the same day.
    const day = payload.day ?? dayBefore(new Date(job.timestamp));
    // Loaded on first use: the model client, ajv and DuckDB stay out of idle workers.
    const { auditCache } = await import('./audit-cache.ts');
    const result = await auditCache({
      databaseUrl: config.database.url,
      storage: deps.storage,
      cacheDir: config.cold.cacheDir,
      duckdb: config.cold.duckdb,
      day,
      inference: config.inference,
      audit: config.cacheAudit,
      signal,
    });
    await recordAudit(deps.db, result, {
      jobId: job.id,
      minSimilarity: config.cacheAudit.minSimilarity,
      maxFalseHit: config.cacheAudit.maxFalseHit,
    });
    auditMetrics(deps.metrics).record(result);
    logAudit(result, log, config);
    return { ...result, nothingToAudit: result.tasks.length === 0 };
  },
});
