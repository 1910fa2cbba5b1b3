import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';

/** The cache layers whose hit rate is watched (the `generations_by_layer` keys of a cache hit). */
export const cacheLayers = ['precomputed', 'exact', 'template', 'semantic'] as const;

/** One day's generations by where their answers came from, from `usage_daily`. */
export interface DayLayers {
  day: string;
  generations: number;
  /** Share (0–1) of the day's generations each cache layer answered. */
  hitRates: Record<(typeof cacheLayers)[number], number>;
  /** Share answered by the local model (no cache hit, no frontier). */
  localShare: number;
  /** Share the frontier answered after the local model failed (`fallback:<reason>`). */
  fallbackShare: number;
}

/**
 * Each day's layer shares from `from` to `to` (inclusive), oldest first; days without
 * generations are left out. Read from the day's totals the rollup keeps on its `cost_daily` row
 * (`usage.byLayer`, summed over its users and keys): one row a day, not one per user, for a
 * check that runs every minute.
 */
export async function dayLayers(db: Db, from: string, to: string): Promise<DayLayers[]> {
  const { rows } = await sql<{ day: string; layer: string; n: string }>`
    SELECT c.day::text AS day, l.key AS layer, l.value AS n
    FROM cost_daily c, jsonb_each_text(c.usage -> 'byLayer') l
    WHERE c.day BETWEEN ${from}::date AND ${to}::date
    ORDER BY 1`.execute(db);
  const byDay = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const layers = byDay.get(row.day) ?? new Map<string, number>();
    layers.set(row.layer, Number(row.n));
    byDay.set(row.day, layers);
  }
  const days: DayLayers[] = [];
  for (const [day, layers] of byDay) {
    const generations = [...layers.values()].reduce((a, b) => a + b, 0);
    if (generations === 0) continue;
    const share = (n: number) => n / generations;
    let fallback = 0;
    for (const [layer, n] of layers) if (layer.startsWith('fallback:')) fallback += n;
    days.push({
      day,
      generations,
      hitRates: Object.fromEntries(
        cacheLayers.map((layer) => [layer, share(layers.get(layer) ?? 0)]),
      ) as DayLayers['hitRates'],
      localShare: share(layers.get('local') ?? 0),
      fallbackShare: share(fallback),
    });
  }
  return days;
}

/** The median of `values` (the mean of the middle two for an even count); `undefined` if none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
