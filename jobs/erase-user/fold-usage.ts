import type { Selectable } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import type { UsageDailyTable } from '../../shared/db/database.ts';
import { ERASED_USER, lockUsageDays } from '../../shared/usage/erased-usage.ts';

type UsageRow = Selectable<UsageDailyTable>;

const COUNTERS = [
  'api_calls',
  'generations',
  'tokens_in',
  'tokens_out',
  'local_calls',
  'frontier_calls',
  'telemetry_pings',
  'db_writes',
  'webhook_deliveries',
] as const;
const MAPS = ['cache_hits', 'api_calls_by_route', 'generations_by_layer', 'rows_written'] as const;

const addMap = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + Number(n);
};
// numeric(14, 8): summed in units of 1e-8 so no float drift creeps into the day's totals.
const toUnits = (usd: string) => Math.round(Number(usd) * 1e8);
const fromUnits = (units: number) => (units / 1e8).toFixed(8);

/** `row`'s figures added into `into` (same day and key). */
function addRow(into: UsageRow, row: UsageRow): void {
  for (const c of COUNTERS) into[c] = String(BigInt(into[c]) + BigInt(row[c]));
  into.cost_usd = fromUnits(toUnits(into.cost_usd) + toUnits(row.cost_usd));
  for (const m of MAPS) addMap(into[m], row[m]);
  for (const [model, t] of Object.entries(row.tokens_by_model)) {
    const m = into.tokens_by_model[model] ?? { in: 0, out: 0, usd: 0 };
    m.in += t.in;
    m.out += t.out;
    m.usd = Math.round((m.usd + t.usd) * 1e8) / 1e8;
    into.tokens_by_model[model] = m;
  }
}

const emptyRow = (day: string, apiKeyId: string): UsageRow => ({
  day,
  user_id: ERASED_USER,
  api_key_id: apiKeyId,
  ...(Object.fromEntries(COUNTERS.map((c) => [c, '0'])) as Record<
    (typeof COUNTERS)[number],
    string
  >),
  cost_usd: '0',
  cache_hits: {},
  api_calls_by_route: {},
  generations_by_layer: {},
  rows_written: {},
  tokens_by_model: {},
  updated_at: new Date(),
});

/**
 * Inside the erasure's transaction: moves the user's `usage_daily` rows into the anonymous
 * aggregate of each day and API key ({@link ERASED_USER}), summed, and deletes them; the day's
 * totals stay what they were. Takes each day's usage lock first (the rollup takes it to write).
 * Returns the days folded and the rows removed.
 */
export async function foldUsage(
  trx: Db,
  userId: string,
): Promise<{ days: string[]; rows: number }> {
  const days = (
    await trx
      .selectFrom('usage_daily')
      .select('day')
      .distinct()
      .where('user_id', '=', userId)
      .execute()
  ).map((r) => r.day);
  if (days.length === 0) return { days: [], rows: 0 };
  await lockUsageDays(trx, days);
  const rows = await trx
    .selectFrom('usage_daily')
    .selectAll()
    .where('user_id', '=', userId)
    .execute();
  const existing = await trx
    .selectFrom('usage_daily')
    .selectAll()
    .where('user_id', '=', ERASED_USER)
    .where('day', 'in', days)
    .execute();
  const folded = new Map<string, UsageRow>();
  for (const r of existing) folded.set(`${r.day}\t${r.api_key_id}`, r);
  for (const r of rows) {
    const key = `${r.day}\t${r.api_key_id}`;
    let into = folded.get(key);
    if (!into) {
      into = emptyRow(r.day, r.api_key_id);
      folded.set(key, into);
    }
    addRow(into, r);
  }
  await trx.deleteFrom('usage_daily').where('user_id', '=', userId).execute();
  await trx
    .deleteFrom('usage_daily')
    .where('user_id', '=', ERASED_USER)
    .where('day', 'in', days)
    .execute();
  const values = [...folded.values()].map((r) => ({
    ...r,
    cache_hits: JSON.stringify(r.cache_hits),
    api_calls_by_route: JSON.stringify(r.api_calls_by_route),
    generations_by_layer: JSON.stringify(r.generations_by_layer),
    rows_written: JSON.stringify(r.rows_written),
    tokens_by_model: JSON.stringify(r.tokens_by_model),
    updated_at: new Date(),
  }));
  for (let i = 0; i < values.length; i += 1_000) {
    await trx
      .insertInto('usage_daily')
      .values(values.slice(i, i + 1_000))
      .execute();
  }
  return { days: days.sort(), rows: rows.length };
}
