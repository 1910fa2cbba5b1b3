/** The nightly precompute of the most frequent prompts (`precompute-cache`). */
export interface PrecomputeConfig {
  cron: string;
  windowMs: number;
  topN: number;
  minUsers: number;
  freshForMs: number;
  allowFrontier: boolean;
  budgetUsd: number;
  budgetTimeMs: number;
  concurrency: number;
}

/** The precompute section of the config. */
export function precomputeConfig(raw: {
  PRECOMPUTE_CRON: string;
  PRECOMPUTE_WINDOW: number;
  PRECOMPUTE_TOP_N: number;
  PRECOMPUTE_MIN_USERS: number;
  PRECOMPUTE_FRESH_FOR: number;
  PRECOMPUTE_ALLOW_FRONTIER: boolean;
  PRECOMPUTE_BUDGET_USD: number;
  PRECOMPUTE_BUDGET_TIME: number;
  PRECOMPUTE_CONCURRENCY: number;
}): PrecomputeConfig {
  return {
    cron: raw.PRECOMPUTE_CRON,
    windowMs: raw.PRECOMPUTE_WINDOW,
    topN: raw.PRECOMPUTE_TOP_N,
    minUsers: raw.PRECOMPUTE_MIN_USERS,
    freshForMs: raw.PRECOMPUTE_FRESH_FOR,
    allowFrontier: raw.PRECOMPUTE_ALLOW_FRONTIER,
    budgetUsd: raw.PRECOMPUTE_BUDGET_USD,
    budgetTimeMs: raw.PRECOMPUTE_BUDGET_TIME,
    concurrency: raw.PRECOMPUTE_CONCURRENCY,
  };
}
