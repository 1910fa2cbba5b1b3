import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';
import type { Config } from '../../shared/config/load-config.ts';
import type { Db } from '../../shared/db/create-db.ts';
import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import { generatePayloadSchema } from '../../shared/generation/schema.ts';
import type { shadowCompareQueue } from '../../shared/generation/shadow-compare-queue.ts';
import { compareAnswers } from '../../shared/inference/answer-agreement.ts';
import { modelServersFor } from '../../shared/inference/model-servers.ts';
import { answerProblem, askFrontier } from '../../shared/inference/providers.ts';
import { toStorableText } from '../../shared/json/storable-text.ts';
import type { ShadowOutcome } from './metrics.ts';

type ShadowPayload = z.output<(typeof shadowCompareQueue)['schema']>;

/** What one comparison did. */
export interface ShadowResult {
  taskType: string;
  outcome: ShadowOutcome | 'already-recorded' | 'no-frontier';
  similarity?: number;
  costUsd: number;
  /** Why an inconclusive comparison could not be judged. */
  reason?: string;
}

/**
 * Asks the frontier model (`config.inference.frontier`) the generation's request again — no
 * cache is read or written — and compares its answer with the local one the caller got (see
 * `compareAnswers`). The comparison is stored in `shadow_comparisons` under the generation's
 * id, with the frontier call's tokens and cost (never added to the generation's row); a retry
 * after the row was written calls nothing. A frontier answer that is unusable (empty, cut off,
 * not matching the schema) is inconclusive and stores nothing.
 */
export async function compareShadow(
  payload: ShadowPayload,
  deps: { db: Db; config: Config },
  signal: AbortSignal,
): Promise<ShadowResult> {
  const { db, config } = deps;
  const parsed = generatePayloadSchema.safeParse(payload.request);
  if (!parsed.success) throw new UnrecoverableError('the request is not a generate payload');
  const taskType = parsed.data.taskType;
  const done = await db
    .selectFrom('shadow_comparisons')
    .select('generation_id')
    .where('generation_id', '=', payload.generationId)
    .executeTakeFirst();
  if (done) return { taskType, outcome: 'already-recorded', costUsd: 0 };
  const frontier = config.inference.frontier;
  if (!frontier) return { taskType, outcome: 'no-frontier', costUsd: 0 };

  let request: ReturnType<typeof resolveRequest>;
  try {
    request = resolveRequest(parsed.data);
  } catch (error) {
    if (error instanceof UnresolvableRequestError) throw new UnrecoverableError(error.message);
    throw error;
  }
  const answer = await askFrontier(frontier, {
    messages: request.messages,
    responseFormat: request.responseFormat,
    timeoutMs: frontier.timeoutMs,
    signal,
  });
  const price = config.inference.prices[answer.model];
  const costUsd = price
    ? (answer.tokensIn * price.input + answer.tokensOut * price.output) / 1e6
    : 0;
  const problem = answerProblem(answer, request.responseFormat);
  if (problem) return { taskType, outcome: 'inconclusive', costUsd, reason: problem };

  const { agreed, similarity } = await compareAnswers(
    answer.text,
    payload.localAnswer,
    request.responseFormat,
    {
      embed: { servers: modelServersFor(config.inference), model: config.inference.embedModel },
      minSimilarity: config.shadow.minSimilarity,
    },
  );
  await db
    .insertInto('shadow_comparisons')
    .values({
      generation_id: payload.generationId,
      task_type: taskType,
      local_model: payload.localModel,
      local_digest: payload.localDigest ?? null,
      frontier_model: answer.model,
      agreed,
      similarity: similarity ?? null,
      frontier_answer: toStorableText(answer.text),
      tokens_in: answer.tokensIn,
      tokens_out: answer.tokensOut,
      cost_usd: costUsd.toFixed(8),
    })
    .onConflict((oc) => oc.column('generation_id').doNothing())
    .execute();
  return {
    taskType,
    outcome: agreed ? 'agreed' : 'disagreed',
    costUsd,
    ...(similarity !== undefined && { similarity }),
  };
}
