import type { FrozenDay } from './erase-rows.ts';

/** What the hot passes of an erasure removed (`erasures.counts.hot`), summed over its runs. */
export interface HotCounts {
  runs: number;
  /** Rows deleted per hot table. */
  rows: Record<string, number>;
  /** Rows left in day partitions the export had claimed (as of the last run). */
  frozen: FrozenDay[];
  webhookPayloads: number;
  idempotencyKeys: number;
  shadowComparisons: number;
  usageRows: number;
  /** Days whose `usage_daily` rows were folded into the anonymous aggregate. */
  usageDays: string[];
  cache: { removed: Record<string, number>; vectors: number; userNamespaces: number };
  /** `generate` job records removed from Redis. */
  jobRecords: number;
  /** Spend counters, rate-limit windows and budget crossings naming the user, removed. */
  counters: number;
  /** Keyed digests of the cache keys purged and of the generations' job ids, for `--verify`. */
  cacheKeys: string[];
  jobIds: string[];
}

const addNumbers = (a: Record<string, number> = {}, b: Record<string, number> = {}) => {
  const sum = { ...a };
  for (const [k, n] of Object.entries(b)) sum[k] = (sum[k] ?? 0) + n;
  return sum;
};
const union = (a: readonly string[] = [], b: readonly string[] = []) =>
  [...new Set([...a, ...b])].sort();

/** An earlier run's counts (if any) with this run's added: numbers summed, lists merged. */
export function mergeHotCounts(earlier: unknown, run: HotCounts): HotCounts {
  if (!earlier || typeof earlier !== 'object') return run;
  const e = earlier as Partial<HotCounts>;
  return {
    runs: (e.runs ?? 0) + run.runs,
    rows: addNumbers(e.rows, run.rows),
    frozen: run.frozen,
    webhookPayloads: (e.webhookPayloads ?? 0) + run.webhookPayloads,
    idempotencyKeys: (e.idempotencyKeys ?? 0) + run.idempotencyKeys,
    shadowComparisons: (e.shadowComparisons ?? 0) + run.shadowComparisons,
    usageRows: (e.usageRows ?? 0) + run.usageRows,
    usageDays: union(e.usageDays, run.usageDays),
    cache: {
      removed: addNumbers(e.cache?.removed, run.cache.removed),
      vectors: (e.cache?.vectors ?? 0) + run.cache.vectors,
      userNamespaces: (e.cache?.userNamespaces ?? 0) + run.cache.userNamespaces,
    },
    jobRecords: (e.jobRecords ?? 0) + run.jobRecords,
    counters: (e.counters ?? 0) + run.counters,
    cacheKeys: union(e.cacheKeys, run.cacheKeys),
    jobIds: union(e.jobIds, run.jobIds),
  };
}
