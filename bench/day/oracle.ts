// The oracle hit rate: how many requests a perfect cache with lowburn's fill policy and TTLs could
// answer. A perfect cache matches every repeat, every rewording and every template refill; like
// lowburn's, it fills its layers only when a model answers (exact and template for the exact TTL,
// the question for the semantic TTL, one-turn prompts only) and a hit neither refreshes nor
// re-fills an entry, so a question asked all day is answered again once its entry expires.

import type { DayRequest } from './workload.ts';

export interface OracleTtls {
  exactMs: number;
  semanticMs: number;
}

export interface OracleResult {
  /** Requests counted (those at or after `from`). */
  requests: number;
  hits: number;
  /** hits ÷ requests (0 without requests). */
  rate: number;
  byLayer: { exact: number; template: number; semantic: number };
}

/**
 * The oracle over `requests` (in time order) from `from` on; requests before it fill the cache
 * only when `warm` (a cache that lived through them), else the cache starts empty at `from`.
 */
export function oracleHitRate(
  requests: readonly Pick<DayRequest, 'at' | 'keys'>[],
  ttls: OracleTtls,
  options: { from?: number; warm?: boolean } = {},
): OracleResult {
  const from = options.from ?? Number.NEGATIVE_INFINITY;
  const expires = { exact: new Map<string, number>(), template: new Map(), semantic: new Map() };
  const live = (layer: keyof typeof expires, key: string | undefined, at: number) =>
    key !== undefined && (expires[layer].get(key) ?? Number.NEGATIVE_INFINITY) > at;
  const result: OracleResult = {
    requests: 0,
    hits: 0,
    rate: 0,
    byLayer: { exact: 0, template: 0, semantic: 0 },
  };
  for (const { at, keys } of requests) {
    const counted = at >= from;
    if (!counted && !options.warm) continue;
    if (counted) result.requests++;
    const layer = live('exact', keys.exact, at)
      ? 'exact'
      : live('template', keys.template, at)
        ? 'template'
        : live('semantic', keys.meaning, at)
          ? 'semantic'
          : undefined;
    if (layer) {
      if (counted) {
        result.hits++;
        result.byLayer[layer]++;
      }
      continue;
    }
    expires.exact.set(keys.exact, at + ttls.exactMs);
    if (keys.template) expires.template.set(keys.template, at + ttls.exactMs);
    if (keys.meaning) expires.semantic.set(keys.meaning, at + ttls.semanticMs);
  }
  result.rate = result.requests === 0 ? 0 : result.hits / result.requests;
  return result;
}
