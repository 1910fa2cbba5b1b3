import type { Db } from '../../shared/db/create-db.ts';
import type { UsageRowFigures } from '../../shared/usage/day-usage.ts';
import { ERASED_USER, foldedUsersOfDay } from '../../shared/usage/erased-usage.ts';
import type { GeneratedFacts } from './usage-facts.ts';

/**
 * What erased users add to a day being rebuilt. Their `usage_daily` rows were folded into the
 * anonymous aggregate ({@link ERASED_USER}) by the erasure, which is kept as stored; their facts
 * still in hot or cold rows (until the cold side rewrites the files) are taken out of `users`
 * (in place), or they would be counted twice and named again. Each folded user stays an active
 * user of the day, and the day's token cost keeps their share.
 */
export async function erasedShare(
  trx: Db,
  day: string,
  users: Map<string, GeneratedFacts>,
): Promise<{
  rows: ReturnType<typeof insertable>[];
  figures: UsageRowFigures[];
  users: number;
  tokenUsdDelta: number;
  localOutputTokensAtLeast: number;
}> {
  const folded = await foldedUsersOfDay(trx, day);
  let delta = 0;
  for (const [key, facts] of users) {
    const userId = key.split('\t')[1] ?? '';
    if (userId === ERASED_USER || folded.userIds.has(userId)) {
      delta -= Number(facts.costUsd);
      users.delete(key);
    }
  }
  const stored = await trx
    .selectFrom('usage_daily')
    .selectAll()
    .where('day', '=', day)
    .where('user_id', '=', ERASED_USER)
    .execute();
  for (const r of stored) delta += Number(r.cost_usd);
  // The aggregate keeps tokens by model, not by route: the local share of an erased user's
  // output is known only as part of the day's stored total. A day's rows only ever grow but
  // by an erasure, so the stored total is a floor while the day has folded users.
  const costRow =
    folded.count > 0
      ? await trx
          .selectFrom('cost_daily')
          .select('local_output_tokens')
          .where('day', '=', day)
          .executeTakeFirst()
      : undefined;
  return {
    rows: stored.map(insertable),
    figures: stored.map((r) => ({
      apiCalls: Number(r.api_calls),
      generations: Number(r.generations),
      tokensIn: Number(r.tokens_in),
      tokensOut: Number(r.tokens_out),
      dbWrites: Number(r.db_writes),
      telemetryPings: Number(r.telemetry_pings),
      webhookDeliveries: Number(r.webhook_deliveries),
      byLayer: r.generations_by_layer,
      byRoute: r.api_calls_by_route,
      byModel: r.tokens_by_model,
    })),
    users: folded.count,
    tokenUsdDelta: delta,
    localOutputTokensAtLeast: Number(costRow?.local_output_tokens ?? 0),
  };
}

/** A stored row as it is written back. */
function insertable(r: {
  day: string;
  user_id: string;
  api_key_id: string;
  api_calls: string;
  generations: string;
  tokens_in: string;
  tokens_out: string;
  cost_usd: string;
  cache_hits: Record<string, number>;
  local_calls: string;
  frontier_calls: string;
  telemetry_pings: string;
  db_writes: string;
  api_calls_by_route: Record<string, number>;
  generations_by_layer: Record<string, number>;
  tokens_by_model: Record<string, { in: number; out: number; usd: number }>;
  rows_written: Record<string, number>;
  webhook_deliveries: string;
}) {
  return {
    day: r.day,
    user_id: r.user_id,
    api_key_id: r.api_key_id,
    api_calls: r.api_calls,
    generations: r.generations,
    tokens_in: r.tokens_in,
    tokens_out: r.tokens_out,
    cost_usd: r.cost_usd,
    cache_hits: JSON.stringify(r.cache_hits),
    local_calls: r.local_calls,
    frontier_calls: r.frontier_calls,
    telemetry_pings: r.telemetry_pings,
    db_writes: r.db_writes,
    api_calls_by_route: JSON.stringify(r.api_calls_by_route),
    generations_by_layer: JSON.stringify(r.generations_by_layer),
    tokens_by_model: JSON.stringify(r.tokens_by_model),
    rows_written: JSON.stringify(r.rows_written),
    webhook_deliveries: r.webhook_deliveries,
  };
}
