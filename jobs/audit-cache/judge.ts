import type { InferenceConfig } from '../../shared/config/load-config.ts';
import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import { generatePayloadSchema } from '../../shared/generation/schema.ts';
import { compareAnswers } from '../../shared/inference/answer-agreement.ts';
import { modelServersFor } from '../../shared/inference/model-servers.ts';
import { answerProblem, askLocal, ModelError } from '../../shared/inference/providers.ts';
import type { SemanticHit } from './semantic-hits.ts';

/** How one hit was judged; `inconclusive` ones are left out of the rate. */
export type Verdict =
  | { kind: 'right'; similarity?: number }
  | { kind: 'false-hit'; similarity?: number }
  | { kind: 'inconclusive'; reason: string };

export interface JudgeOptions {
  inference: InferenceConfig;
  /** Cosine at or above which a text answer is the same answer. */
  minSimilarity: number;
  signal?: AbortSignal;
}

/**
 * Asks the local model the hit's request again — the local model only, whatever the route, and
 * no cache is read or written — and compares its answer with the one the cache served: equal
 * JSON (key order aside) when the request had a `responseFormat`, else the cosine of the two
 * answers' embeddings (`EMBED_MODEL`) at least `minSimilarity`. A hit that cannot be judged
 * (its request unreadable, its template gone, the model failing or answering unusably) is
 * inconclusive. A model server that cannot be reached at all is thrown: the whole audit is
 * retried later rather than recorded as a night of inconclusive hits.
 */
export async function judgeHit(hit: SemanticHit, options: JudgeOptions): Promise<Verdict> {
  const { inference } = options;
  const servers = modelServersFor(inference);
  // Parsed as the generate job parses its payload: the row was written by whatever code ran then.
  const payload = generatePayloadSchema.safeParse(hit.request);
  if (!payload.success) {
    return { kind: 'inconclusive', reason: 'the stored request is not a generate payload' };
  }
  let request: ReturnType<typeof resolveRequest>;
  try {
    request = resolveRequest(payload.data);
  } catch (error) {
    if (error instanceof UnresolvableRequestError) {
      return { kind: 'inconclusive', reason: error.message };
    }
    throw error;
  }
  let fresh: Awaited<ReturnType<typeof askLocal>>;
  try {
    fresh = await servers.run((url) =>
      askLocal(
        { url, model: inference.localModel },
        {
          messages: request.messages,
          responseFormat: request.responseFormat,
          timeoutMs: inference.localTimeoutMs,
          signal: options.signal,
        },
      ),
    );
  } catch (error) {
    if (error instanceof ModelError && !error.unreachable) {
      return { kind: 'inconclusive', reason: error.message };
    }
    throw error;
  }
  const problem = answerProblem(fresh, request.responseFormat);
  if (problem) return { kind: 'inconclusive', reason: `local model: ${problem}` };

  const { agreed, similarity } = await compareAnswers(
    hit.response,
    fresh.text,
    request.responseFormat,
    {
      embed: { servers, model: inference.embedModel },
      minSimilarity: options.minSimilarity,
    },
  );
  return { kind: agreed ? 'right' : 'false-hit', ...(similarity !== undefined && { similarity }) };
}
