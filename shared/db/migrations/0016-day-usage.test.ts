import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/fixtures/postgres.ts';
import { createLogger } from '../../log/logger.ts';
import { sumDayUsage } from '../../usage/day-usage.ts';
import { createDb, type Db } from '../create-db.ts';
import { migrateDown, migrateUp } from '../migrate.ts';

const THIS = '0016-day-usage';
const DAY = '2026-11-20';

/** A `usage_daily` row as the rollup wrote it before this migration. */
const row = (user: string, key: string, k: number) => ({
  user,
  key,
  calls: k,
  generations: 2 * k,
  tokensIn: 10 * k,
  tokensOut: 20 * k,
  writes: 3 * k,
  pings: 1,
  deliveries: k - 1,
  byLayer: { exact: k, local: k },
  byRoute: { 'POST /v1/generations': k },
  byModel: { 'gpt-4o-mini': { in: 10 * k, out: 20 * k, usd: k * 0.00001 } },
});

describe('migration 0016-day-usage', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  beforeEach(async () => {
    database = await createTestDatabase({ empty: true });
    db = createDb({ url: database.url, log: createLogger({ level: 'silent' }) }).db;
    await migrateUp(db, { to: '0013-usage-rollup' });
  });
  afterEach(async () => {
    await db.destroy();
    await database.drop();
  });

  it("fills each rolled-up day's usage with the sum of its rows, and goes back down", async () => {
    const rows = [row('user-a', 'k1', 1), row('user-a', 'k2', 2), row('user-b', 'k1', 3)];
    for (const r of rows) {
      await sql`
        INSERT INTO usage_daily (day, user_id, api_key_id, api_calls, generations, tokens_in,
          tokens_out, db_writes, telemetry_pings, webhook_deliveries, generations_by_layer,
          api_calls_by_route, tokens_by_model)
        VALUES (${DAY}, ${r.user}, ${r.key}, ${r.calls}, ${r.generations}, ${r.tokensIn},
          ${r.tokensOut}, ${r.writes}, ${r.pings}, ${r.deliveries}, ${JSON.stringify(r.byLayer)},
          ${JSON.stringify(r.byRoute)}, ${JSON.stringify(r.byModel)})`.execute(db);
    }
    for (const day of [DAY, '2026-11-21']) {
      await sql`
        INSERT INTO cost_daily (day, active_users, token_usd, fleet_usd, database_usd, model_usd,
          storage_usd, requests_usd, total_usd, cpau_usd, model_boxes, local_output_tokens,
          storage_bytes, storage_writes, costs)
        VALUES (${day}, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, '{}')`.execute(db);
    }
    await migrateUp(db, { to: THIS });
    const usage = await db
      .selectFrom('cost_daily')
      .select(['day', 'usage'])
      .orderBy('day')
      .execute();
    // By hand: k = 1, 2, 3 → calls 6, generations 12, tokens 60 in / 120 out, writes 18,
    // pings 3, deliveries 0 + 1 + 2; $0.00006 of tokens.
    expect(usage[0]?.usage).toEqual({
      apiCalls: 6,
      generations: 12,
      tokensIn: 60,
      tokensOut: 120,
      dbWrites: 18,
      telemetryPings: 3,
      webhookDeliveries: 3,
      byLayer: { exact: 6, local: 6 },
      byRoute: { 'POST /v1/generations': 6 },
      byModel: { 'gpt-4o-mini': { in: 60, out: 120, usd: 0.00006 } },
    });
    // What the rollup now writes for the same rows.
    expect(usage[0]?.usage).toEqual(
      sumDayUsage(
        rows.map((r) => ({
          apiCalls: r.calls,
          generations: r.generations,
          tokensIn: r.tokensIn,
          tokensOut: r.tokensOut,
          dbWrites: r.writes,
          telemetryPings: r.pings,
          webhookDeliveries: r.deliveries,
          byLayer: r.byLayer,
          byRoute: r.byRoute,
          byModel: r.byModel,
        })),
      ),
    );
    // A day without rows keeps the empty default.
    expect(usage[1]?.usage).toEqual({});

    await migrateDown(db);
    const { rows: left } = await sql<{ name: string }>`
      SELECT column_name AS name FROM information_schema.columns
      WHERE table_name = 'cost_daily' AND column_name = 'usage'`.execute(db);
    expect(left).toEqual([]);
  });
});
