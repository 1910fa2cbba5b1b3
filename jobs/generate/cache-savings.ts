import type { InferenceConfig } from '../../shared/config/load-config.ts';
import type { CacheLayer } from '../../shared/inference/answer-cache.ts';
import type { GenerationRequest } from '../../shared/inference/pipeline.ts';
import { semanticText } from '../../shared/inference/request-keys.ts';
import { routeFor } from '../../shared/inference/router.ts';

/**
 * The cache layers a request was looked up in, in the pipeline's order, up to and including the
 * one that answered (all of them when a model answered): `precomputed` and `exact` always,
 * `template` for template requests, `semantic` for one-turn prompts; none with `cache: "off"`.
 * Every layer before the answering one missed. (A request that waited for an identical one in
 * flight is answered as an `exact` hit after it had missed the later layers too; those few
 * misses go uncounted.)
 */
export function layersTried(request: GenerationRequest, answeredBy?: CacheLayer): CacheLayer[] {
  if (request.cache?.mode === 'off') return [];
  const tried: CacheLayer[] = ['precomputed', 'exact'];
  if (request.template) tried.push('template');
  if (semanticText(request.messages) !== undefined) tried.push('semantic');
  const at = answeredBy ? tried.indexOf(answeredBy) : -1;
  return at === -1 ? tried : tried.slice(0, at + 1);
}

/** About four characters a token, as tokenizers average on English text. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

/**
 * What the model call a cache hit avoided would have cost: the call this request would make on
 * a miss, on the route the router gives it now (local when no frontier model is configured, as
 * the pipeline does), priced as `MODEL_PRICES` prices that route's model — `FRONTIER_MODEL`, or
 * `LOCAL_MODEL`, which costs 0 unless priced there (there is no other setting for a local
 * model's running cost; the precompute prices a miss the same way) — × tokens estimated from the
 * text: the prompt's characters / 4 in, the answer's / 4 out. A hit carries no token counts of
 * its own, and the answer served is the one the call would have returned.
 */
export function avoidedCostUsd(
  request: GenerationRequest,
  answer: string,
  config: InferenceConfig,
): number {
  const route = config.frontier
    ? routeFor(request.taskType, request.messages, config.route)
    : 'local';
  const model = route === 'frontier' ? config.frontier?.model : config.localModel;
  const price = model ? config.prices[model] : undefined;
  if (!price) return 0;
  const tokensIn = estimateTokens(request.messages.map((m) => m.content).join('\n'));
  const tokensOut = estimateTokens(answer);
  return (tokensIn * price.input + tokensOut * price.output) / 1_000_000;
}
