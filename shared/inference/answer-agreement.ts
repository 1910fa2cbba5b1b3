import { canonicalJson } from '../json/canonical-json.ts';
import type { ModelServers } from './model-servers.ts';
import { embedTexts } from './providers.ts';

/** Whether two answers to one request say the same thing, and how close the texts were. */
export interface Agreement {
  agreed: boolean;
  /** The embeddings' cosine; only for text answers. */
  similarity?: number;
}

export interface AgreementOptions {
  /** The Ollama servers, and the model that embeds text answers (`EMBED_MODEL`). */
  embed: { servers: ModelServers; model: string };
  /** Cosine at or above which two text answers are the same answer. */
  minSimilarity: number;
}

/**
 * Compares two answers to one request: equal JSON (key order aside) when the request had a
 * `responseFormat` — `candidate` was validated against it, so a `reference` that no longer
 * parses disagrees —, else the cosine of the two answers' embeddings at least
 * `minSimilarity`. The cache audit judges its hits with it, the shadow comparison its samples.
 */
export async function compareAnswers(
  reference: string,
  candidate: string,
  responseFormat: Record<string, unknown> | undefined,
  options: AgreementOptions,
): Promise<Agreement> {
  if (responseFormat) {
    const a = parseJson(reference);
    const b = parseJson(candidate);
    return { agreed: a.ok && b.ok && canonicalJson(a.value) === canonicalJson(b.value) };
  }
  const { servers, model } = options.embed;
  const [a, b] = await servers.run((url) => embedTexts({ url, model }, [candidate, reference]));
  const similarity = cosine(a ?? [], b ?? []);
  return { agreed: similarity >= options.minSimilarity, similarity };
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
