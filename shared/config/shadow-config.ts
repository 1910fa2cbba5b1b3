/** The shadow comparison of local answers with the frontier model's (`jobs/shadow-compare`). */
export interface ShadowConfig {
  /**
   * Share of local model answers also asked of the frontier model in the background; 0 when no
   * frontier model is configured, whatever `SHADOW_SAMPLE_RATE` says.
   */
  sampleRate: number;
  /** Cosine of the two text answers' embeddings at or above which they agree. */
  minSimilarity: number;
  /** `SHADOW_SAMPLE_RATE` was set, but with no frontier model there is nothing to ask. */
  offWithoutFrontier: boolean;
}

/** The shadow section of the config. */
export function shadowConfig(
  raw: { SHADOW_SAMPLE_RATE: number; SHADOW_MIN_SIMILARITY: number },
  frontierConfigured: boolean,
): ShadowConfig {
  return {
    sampleRate: frontierConfigured ? raw.SHADOW_SAMPLE_RATE : 0,
    minSimilarity: raw.SHADOW_MIN_SIMILARITY,
    offWithoutFrontier: !frontierConfigured && raw.SHADOW_SAMPLE_RATE > 0,
  };
}
