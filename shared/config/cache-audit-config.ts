/** The nightly false-hit audit of the semantic cache (`jobs/audit-cache`). */
export interface CacheAuditConfig {
  /** Share of a day's semantic hits asked again, rounded up. */
  sampleRate: number;
  /** Most hits asked again in one audit. */
  maxSamples: number;
  /** Cosine of the fresh and the cached answer at or above which a text hit was right. */
  minSimilarity: number;
  /** A task type's false-hit rate above this is a warning. */
  maxFalseHit: number;
}

/** The cache-audit section of the config. */
export function cacheAuditConfig(raw: {
  AUDIT_SAMPLE_RATE: number;
  AUDIT_MAX_SAMPLES: number;
  AUDIT_MIN_SIMILARITY: number;
  SEMANTIC_MAX_FALSE_HIT: number;
}): CacheAuditConfig {
  return {
    sampleRate: raw.AUDIT_SAMPLE_RATE,
    maxSamples: raw.AUDIT_MAX_SAMPLES,
    minSimilarity: raw.AUDIT_MIN_SIMILARITY,
    maxFalseHit: raw.SEMANTIC_MAX_FALSE_HIT,
  };
}
