import { z } from 'zod';
import { defineQueue } from '../queue/job-definition.ts';

/**
 * The `audit-cache` queue's contract: the nightly false-hit audit of the semantic cache. It lives
 * here rather than in the job's folder so the nightly precompute can enqueue it when it
 * finishes (`deps.enqueue(auditCacheQueue, { day }, { jobId: auditJobId(day) })`);
 * `jobs/audit-cache` completes it with the processor. It has no schedule of its own.
 */
export const auditCacheQueue = defineQueue({
  queue: 'audit-cache',
  description:
    "Ask the local model a sample of a day's semantic cache hits again and store the false-hit rate per task type (cache_audits).",
  schema: z
    .object({
      /** The UTC day to audit (`YYYY-MM-DD`). @defaultValue the day before the job was enqueued */
      day: z.iso.date().optional(),
    })
    .strict(),
  // At most AUDIT_MAX_SAMPLES local calls one after another, each up to LOCAL_TIMEOUT.
  options: { attempts: 3, backoffMs: 5 * 60_000, timeoutMs: 2 * 60 * 60_000, concurrency: 1 },
});

/** The job id of one day's audit: a day enqueued twice (a rerun precompute) is audited once. */
export const auditJobId = (day: string) => `audit-cache.${day}`;
