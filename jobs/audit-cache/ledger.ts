import type { Db } from '../../shared/db/create-db.ts';
import type { AuditResult } from './audit-cache.ts';

/**
 * Stores an audit in `cache_audits`, one row per task type. A rerun of the same day (a retry,
 * or `lowburn run audit-cache` again) replaces that day's rows in one transaction, so a day
 * always holds exactly one audit's rows.
 */
export async function recordAudit(
  db: Db,
  result: AuditResult,
  context: { jobId: string | undefined; minSimilarity: number; maxFalseHit: number },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('cache_audits').where('day', '=', result.day).execute();
    if (result.tasks.length === 0) return;
    await trx
      .insertInto('cache_audits')
      .values(
        result.tasks.map((t) => ({
          day: result.day,
          task_type: t.taskType,
          semantic_hits: t.semanticHits,
          sampled: t.sampled,
          sample_size: t.sampleSize,
          false_hits: t.falseHits,
          false_hit_rate: t.rate,
          ci_low: t.interval?.low ?? null,
          ci_high: t.interval?.high ?? null,
          min_similarity: context.minSimilarity,
          max_false_hit: context.maxFalseHit,
          job_id: context.jobId ?? null,
        })),
      )
      .execute();
  });
}
