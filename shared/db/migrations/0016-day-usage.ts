import { type Kysely, sql } from 'kysely';

/**
 * `cost_daily.usage`: the day's usage summed over its `usage_daily` rows (API calls, generations,
 * tokens, DB writes, pings, deliveries, and the breakdowns by layer, route and model), written
 * by the rollup with the day's rows. The dashboard draws 30 days from these 30 rows instead of
 * summing 30 × 10,000 user rows (and their jsonb) per render. Days rolled up before are filled
 * here from their rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE cost_daily ADD COLUMN usage jsonb NOT NULL DEFAULT '{}'`.execute(db);
  await sql`
    WITH totals AS (
      SELECT day, sum(api_calls) AS api_calls, sum(generations) AS generations,
        sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(db_writes) AS db_writes,
        sum(telemetry_pings) AS pings, sum(webhook_deliveries) AS deliveries
      FROM usage_daily GROUP BY day
    ), layers AS (
      SELECT day, jsonb_object_agg(k, n) AS by_layer FROM (
        SELECT day, e.key AS k, sum(e.value::bigint) AS n
        FROM usage_daily, jsonb_each_text(generations_by_layer) e GROUP BY day, e.key) l
      GROUP BY day
    ), routes AS (
      SELECT day, jsonb_object_agg(k, n) AS by_route FROM (
        SELECT day, e.key AS k, sum(e.value::bigint) AS n
        FROM usage_daily, jsonb_each_text(api_calls_by_route) e GROUP BY day, e.key) r
      GROUP BY day
    ), models AS (
      SELECT day, jsonb_object_agg(k, jsonb_build_object('in', i, 'out', o, 'usd', usd)) AS by_model
      FROM (
        SELECT day, e.key AS k, sum((e.value->>'in')::bigint) AS i,
          sum((e.value->>'out')::bigint) AS o, round(sum((e.value->>'usd')::numeric), 8) AS usd
        FROM usage_daily, jsonb_each(tokens_by_model) e GROUP BY day, e.key) m
      GROUP BY day
    )
    UPDATE cost_daily c SET usage = jsonb_build_object(
      'apiCalls', t.api_calls, 'generations', t.generations, 'tokensIn', t.tokens_in,
      'tokensOut', t.tokens_out, 'dbWrites', t.db_writes, 'telemetryPings', t.pings,
      'webhookDeliveries', t.deliveries,
      'byLayer', coalesce(l.by_layer, '{}'), 'byRoute', coalesce(r.by_route, '{}'),
      'byModel', coalesce(m.by_model, '{}'))
    FROM totals t
      LEFT JOIN layers l USING (day) LEFT JOIN routes r USING (day) LEFT JOIN models m USING (day)
    WHERE c.day = t.day`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE cost_daily DROP COLUMN usage`.execute(db);
}
