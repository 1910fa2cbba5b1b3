import type { GeneratePayload } from '../../shared/generation/schema.ts';
import {
  SHADOW_PRIORITY,
  shadowCompareQueue,
  shadowJobId,
  shadowSampled,
} from '../../shared/generation/shadow-compare-queue.ts';
import type { GenerationOutcome } from '../../shared/inference/pipeline.ts';
import type { JobContext } from '../../shared/queue/job-definition.ts';

/**
 * Queues a shadow comparison for `SHADOW_SAMPLE_RATE` of the answers the local model gave (not
 * a cache hit, not a fallback), after the generation's row is recorded. It only enqueues: the
 * frontier call runs in the `shadow-compare` job, never in the caller's time, and a failure to
 * enqueue is logged, never the caller's failure.
 */
export async function sampleShadow(
  ctx: JobContext,
  id: string,
  payload: GeneratePayload,
  outcome: GenerationOutcome,
): Promise<void> {
  const { deps } = ctx;
  if (outcome.layer || outcome.route !== 'local' || outcome.fallback || !id) return;
  if (!shadowSampled(id, deps.config.shadow.sampleRate)) return;
  try {
    await deps.enqueue(
      shadowCompareQueue,
      {
        generationId: id,
        request: payload,
        localAnswer: outcome.answer,
        localModel: outcome.model,
        ...(outcome.localDigest && { localDigest: outcome.localDigest }),
      },
      { jobId: shadowJobId(id), priority: SHADOW_PRIORITY },
    );
  } catch (error) {
    ctx.log.warn({ err: error, generationId: id }, 'could not queue a shadow comparison');
  }
}
