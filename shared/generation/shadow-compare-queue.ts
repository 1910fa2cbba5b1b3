import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineQueue } from '../queue/job-definition.ts';

/**
 * The `shadow-compare` queue's contract: one local answer to ask the frontier model again and
 * compare. It lives here rather than in the job's folder because the generate job enqueues it
 * (after it recorded its row); `jobs/shadow-compare` completes it with the processor.
 */
export const shadowCompareQueue = defineQueue({
  queue: 'shadow-compare',
  description:
    "Ask the frontier model a sample of the local model's answers again and record whether the two agree (shadow_comparisons).",
  schema: z
    .object({
      /** The generate job's id (= `generations.id`). */
      generationId: z.string().min(1),
      /** The generate job's payload, as it was enqueued (rebuilt with `resolveRequest`). */
      request: z.unknown(),
      /** The local model's answer the caller got. */
      localAnswer: z.string(),
      localModel: z.string().min(1),
      localDigest: z.string().optional(),
    })
    .strict(),
  // One at a time per worker, well behind the callers' generations; a frontier call may take
  // FRONTIER_TIMEOUT, the embedding a few seconds more.
  options: { attempts: 3, backoffMs: 60_000, timeoutMs: 5 * 60_000, concurrency: 1 },
});

/** The job id of one generation's comparison: a generate job retried compares once. */
export const shadowJobId = (generationId: string) => `shadow-compare.${generationId}`;

/** BullMQ priority of a shadow job: behind anything enqueued without one. */
export const SHADOW_PRIORITY = 1_000;

/**
 * Whether a generation is sampled for a shadow comparison: decided by a hash of its id, so a
 * retried job decides the same, and `rate` of ids are chosen.
 */
export function shadowSampled(generationId: string, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  const hash = createHash('sha256').update(generationId).digest();
  return hash.readUInt32BE(0) / 2 ** 32 < rate;
}
