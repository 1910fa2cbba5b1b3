import type { PrecomputeAnswer } from '../../shared/generation/precompute.ts';
import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import type { GeneratePayload } from '../../shared/generation/schema.ts';
import { NoFallbackError } from '../../shared/inference/no-fallback-error.ts';
import { ModelError } from '../../shared/inference/providers.ts';
import type { JobContext } from '../../shared/queue/job-definition.ts';

/**
 * A precompute job (`payload.precompute`, enqueued by `precompute-cache`): answers the request
 * into the precomputed layer through the same model path and validation as a live request. It
 * writes no `generations` row and sends no webhook — no user asked — and returns what happened
 * rather than throwing, so one bad key never retries or stops the night's run. A shutdown still
 * throws: the job is then retried like any other.
 */
export async function precomputeAnswer(
  payload: GeneratePayload,
  { deps, signal }: JobContext,
): Promise<PrecomputeAnswer> {
  try {
    const request = resolveRequest(payload);
    const outcome = await deps.generation.precompute(request, {
      allowFrontier: payload.precompute?.allowFrontier ?? false,
      signal,
    });
    return {
      status: 'generated',
      route: outcome.route,
      model: outcome.model,
      tokensIn: outcome.tokensIn,
      tokensOut: outcome.tokensOut,
      costUsd: outcome.costUsd,
      semantic: outcome.semantic,
    };
  } catch (error) {
    if (signal.aborted) throw error;
    // Without a paid API configured, a local failure arrives wrapped in NoFallbackError.
    const failure = error instanceof NoFallbackError ? error.cause : error;
    const reason = failure instanceof Error ? failure.message : String(failure);
    if (failure instanceof ModelError && failure.reason === 'invalid') {
      return { status: 'invalid', reason };
    }
    if (failure instanceof ModelError || failure instanceof UnresolvableRequestError) {
      return { status: 'failed', reason };
    }
    throw error;
  }
}
