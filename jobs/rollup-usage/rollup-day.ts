import { sql } from 'kysely';
import type { CostsConfig } from '../../shared/config/load-config.ts';
import type { Db } from '../../shared/db/create-db.ts';
import { utcDay } from '../../shared/db/partitions.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { readApiUsageDay } from '../../shared/usage/api-usage.ts';
import { type DayUsage, sumDayUsage } from '../../shared/usage/day-usage.ts';
import { ERASED_USER, lockUsageDays } from '../../shared/usage/erased-usage.ts';
import { costDailyRow, type DayCost, dayCost } from './day-cost.ts';
import { erasedShare } from './erased-share.ts';
import { storageUse } from './storage-use.ts';
import { type ColdSource, dayFacts, emptyFacts, type GeneratedFacts } from './usage-facts.ts';

export interface RollupDeps extends ColdSource {
  db: Db;
  redis: RedisClient;
  /** The queue prefix the API counts under. */
  prefix: string;
  costs: CostsConfig;
}

export interface DayRollup {
  day: string;
  rows: number;
  activeUsers: number;
  cost: DayCost;
  /** Where the API counts came from: Redis, or kept from the rows already stored. */
  apiCallsFrom: 'redis' | 'stored';
}

interface UserDay extends GeneratedFacts {
  apiCalls: Record<string, number>;
  webhookDeliveries: number;
  ledgerRows: number;
}

const CACHE_LAYERS = new Set(['precomputed', 'exact', 'template', 'semantic']);
const INSERT_BATCH = 1_000;

/** Which rows of the day the ledgers hold, per API key: webhook deliveries, idempotency keys. */
async function ledgerRows(db: Db, day: string) {
  const range = sql`created_at >= ${`${day} 00:00:00+00`}::timestamptz
    AND created_at < ${`${utcDay(new Date(`${day}T00:00:00Z`), 1)} 00:00:00+00`}::timestamptz`;
  const { rows } = await sql<{ k: string; deliveries: string; keys: string }>`
    SELECT k, sum(deliveries) AS deliveries, sum(keys) AS keys FROM (
      SELECT coalesce(api_key_id::text, '') AS k, count(*) AS deliveries, 0 AS keys
        FROM webhook_deliveries WHERE ${range} GROUP BY 1
      UNION ALL
      SELECT api_key_id::text, 0, count(*) FROM idempotency_keys WHERE ${range} GROUP BY 1
    ) l GROUP BY k ORDER BY k`.execute(db);
  return rows;
}

/**
 * Rebuilds a UTC day of `usage_daily` and its `cost_daily` row from what the day left behind:
 * generations and telemetry (hot or cold), the API's counts in Redis, the ledgers, the cold
 * manifests. The day is replaced whole in one transaction, so a rerun over the same facts
 * writes the same rows. Counts no longer held anywhere else — the API's after Redis let them
 * go, webhook deliveries after pruning — are kept from the day's stored rows.
 */
export async function rollupDay(deps: RollupDeps, day: string): Promise<DayRollup> {
  const [facts, api, ledgers, storage, stored] = await Promise.all([
    dayFacts(deps, day),
    readApiUsageDay(deps.redis, deps.prefix, day),
    ledgerRows(deps.db, day),
    storageUse(deps.storage, day),
    deps.db
      .selectFrom('usage_daily')
      .select(['api_key_id', 'user_id', 'api_calls_by_route', 'webhook_deliveries'])
      .where('day', '=', day)
      .execute(),
  ]);
  const users = new Map<string, UserDay>();
  const of = (key: string) => {
    let u = users.get(key);
    if (!u) {
      u = { ...emptyFacts(), apiCalls: {}, webhookDeliveries: 0, ledgerRows: 0 };
      users.set(key, u);
    }
    return u;
  };
  for (const [key, f] of facts.users) Object.assign(of(key), f);
  const apiCallsFrom = api.hoursFound > 0 ? 'redis' : 'stored';
  if (apiCallsFrom === 'redis') {
    for (const r of api.rows) of(`${r.apiKeyId}\t${r.userId}`).apiCalls[r.route] = r.calls;
  } else {
    for (const r of stored) {
      if (Object.keys(r.api_calls_by_route).length > 0)
        of(`${r.api_key_id}\t${r.user_id}`).apiCalls = r.api_calls_by_route;
    }
  }
  if (ledgers.length > 0) {
    for (const r of ledgers) {
      const u = of(`${r.k}\t`);
      u.webhookDeliveries = Number(r.deliveries);
      u.ledgerRows = Number(r.deliveries) + Number(r.keys);
    }
  } else {
    for (const r of stored) {
      const n = Number(r.webhook_deliveries);
      if (n > 0)
        Object.assign(of(`${r.api_key_id}\t${r.user_id}`), { webhookDeliveries: n, ledgerRows: n });
    }
  }

  // Under the day's usage lock, so an erasure folding a user into the day's anonymous
  // aggregate and this rebuild take turns: whichever writes second sees the other's rows.
  const { rows, activeUsers, cost } = await deps.db.transaction().execute(async (trx) => {
    await lockUsageDays(trx, [day]);
    const erased = await erasedShare(trx, day, users);
    const keys = [...users.keys()].sort();
    const rows = [...keys.map((key) => toRow(day, key, users.get(key) as UserDay)), ...erased.rows];
    const activeUsers =
      new Set(rows.map((r) => r.user_id).filter((u) => u !== '' && u !== ERASED_USER)).size +
      erased.users;
    const use = {
      activeUsers,
      tokenUsd: facts.tokenUsd + erased.tokenUsdDelta,
      localOutputTokens: Math.max(facts.localOutputTokens, erased.localOutputTokensAtLeast),
      storageBytes: storage.bytes,
      storageWrites: storage.writes,
      storageReads: 0,
    };
    const cost = dayCost(use, deps.costs);
    await trx.deleteFrom('usage_daily').where('day', '=', day).execute();
    for (let i = 0; i < rows.length; i += INSERT_BATCH) {
      await trx
        .insertInto('usage_daily')
        .values(rows.slice(i, i + INSERT_BATCH))
        .execute();
    }
    const usage = sumDayUsage([dayUsage(users.values()), ...erased.figures]);
    const values = costDailyRow(day, use, cost, deps.costs, usage);
    await trx
      .insertInto('cost_daily')
      .values(values)
      .onConflict((oc) => oc.column('day').doUpdateSet({ ...values, updated_at: sql`now()` }))
      .execute();
    return { rows, activeUsers, cost };
  });
  return { day, rows: rows.length, activeUsers, cost, apiCallsFrom };
}

/** The day's totals over every row, for the dashboard (`cost_daily.usage`). */
function dayUsage(users: Iterable<UserDay>): DayUsage {
  return sumDayUsage(
    Array.from(users, (u) => ({
      ...u,
      apiCalls: Object.values(u.apiCalls).reduce((a, b) => a + b, 0),
      byRoute: u.apiCalls,
      dbWrites: u.telemetryPings + u.generations + u.ledgerRows,
    })),
  );
}

function toRow(day: string, key: string, u: UserDay) {
  const [apiKeyId = '', userId = ''] = key.split('\t');
  const layer = (pick: (l: string) => boolean) =>
    Object.entries(u.byLayer).reduce((n, [l, c]) => (pick(l) ? n + c : n), 0);
  const cacheHits = Object.fromEntries(
    Object.entries(u.byLayer).filter(([l]) => CACHE_LAYERS.has(l)),
  );
  const apiCalls = Object.values(u.apiCalls).reduce((a, b) => a + b, 0);
  const written = {
    telemetry: u.telemetryPings,
    generations: u.generations,
    ledgers: u.ledgerRows,
  };
  return {
    day,
    api_key_id: apiKeyId,
    user_id: userId,
    api_calls: String(apiCalls),
    api_calls_by_route: JSON.stringify(u.apiCalls),
    generations: String(u.generations),
    generations_by_layer: JSON.stringify(u.byLayer),
    cache_hits: JSON.stringify(cacheHits),
    local_calls: String(layer((l) => l === 'local')),
    // A `fallback:budget` generation never asked the frontier model.
    frontier_calls: String(
      layer((l) => l === 'frontier' || (l.startsWith('fallback:') && l !== 'fallback:budget')),
    ),
    tokens_in: String(u.tokensIn),
    tokens_out: String(u.tokensOut),
    cost_usd: u.costUsd,
    tokens_by_model: JSON.stringify(u.byModel),
    telemetry_pings: String(u.telemetryPings),
    webhook_deliveries: String(u.webhookDeliveries),
    rows_written: JSON.stringify(written),
    db_writes: String(written.telemetry + written.generations + written.ledgers),
  };
}
