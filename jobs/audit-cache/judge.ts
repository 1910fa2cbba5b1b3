import type { InferenceConfig } from '../../shared/config/load-config.ts';
import {
  resolveRequest,
  UnresolvableRequestError,
} from '../../shared/generation/resolve-request.ts';
import { generatePayloadSchema } from '../../shared/generation/schema.ts';
import {
  answerProblem,
  askLocal,
  embedTexts,
  ModelError,
} from '../../shared/inference/providers.ts';
import { canonicalJson } from '../../shared/json/canonical-json.ts';
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
    fresh = await askLocal(
      { url: inference.ollamaUrl, model: inference.localModel },
      {
        messages: request.messages,
        responseFormat: request.responseFormat,
        timeoutMs: inference.localTimeoutMs,
        signal: options.signal,
      },
    );
  } catch (error) {
    if (error instanceof ModelError && !error.unreachable) {
      return { kind: 'inconclusive', reason: error.message };
    }
    throw error;
  }
  const problem = answerProblem(fresh, request.responseFormat);
  if (problem) return { kind: 'inconclusive', reason: `local model: ${problem}` };

  if (request.responseFormat) {
    // The fresh answer parsed (answerProblem checked it against the schema); the served one
    // was validated when it was cached, so one that no longer parses was wrong to serve.
    const served = parseJson(hit.response);
    const same = served.ok && canonicalJson(served.value) === canonicalJson(JSON.parse(fresh.text));
    return { kind: same ? 'right' : 'false-hit' };
  }
  const [a, b] = await embedTexts({ url: inference.ollamaUrl, model: inference.embedModel }, [
    fresh.text,
    hit.response,
  ]);
  const similarity = cosine(a ?? [], b ?? []);
  return { kind: similarity >= options.minSimilarity ? 'right' : 'false-hit', similarity };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Cosine similarity; 0 for vectors of different lengths or no length (nothing to compare). */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 || a.length !== b.length) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
