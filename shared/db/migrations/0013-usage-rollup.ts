import { type Kysely, sql } from 'kysely';

/**
 * The usage rollup (`jobs/rollup-usage`). `usage_daily` gains the API key (a user's usage
 * through two keys is two rows; `''` where no key is known, as for telemetry pings, and
 * `user_id` is `''` where no user is: a key's API calls that named none) and the breakdowns
 * as jsonb: API calls by route, generations by layer, tokens and cost by model, rows written by
 * kind, plus webhook deliveries. `cost_daily` holds a row per day: active users, what the day
 * cost by component (its share of the price sheet's monthly prices, the object storage the
 * cold manifests count, the tokens) and CPAU. Both are rebuilt whole per day, so a rerun
 * replaces the day's rows. A row per user and day, never per request: no partitioning.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE usage_daily
      ADD COLUMN api_key_id text NOT NULL DEFAULT '',
      ADD COLUMN api_calls_by_route jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN generations_by_layer jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN tokens_by_model jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN rows_written jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN webhook_deliveries bigint NOT NULL DEFAULT 0,
      DROP CONSTRAINT usage_daily_pkey,
      ADD PRIMARY KEY (day, user_id, api_key_id)`.execute(db);
  await sql`
    CREATE TABLE cost_daily (
      day date PRIMARY KEY,
      active_users integer NOT NULL CHECK (active_users >= 0),
      token_usd numeric(14, 8) NOT NULL,
      fleet_usd numeric(14, 8) NOT NULL,
      database_usd numeric(14, 8) NOT NULL,
      model_usd numeric(14, 8) NOT NULL,
      storage_usd numeric(14, 8) NOT NULL,
      requests_usd numeric(14, 8) NOT NULL,
      total_usd numeric(14, 8) NOT NULL,
      cpau_usd numeric(14, 8),
      model_boxes integer NOT NULL,
      local_output_tokens bigint NOT NULL,
      storage_bytes bigint NOT NULL,
      storage_writes bigint NOT NULL,
      costs jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE cost_daily`.execute(db);
  await sql`DELETE FROM usage_daily WHERE api_key_id <> ''`.execute(db);
  await sql`
    ALTER TABLE usage_daily
      DROP CONSTRAINT usage_daily_pkey,
      DROP COLUMN api_key_id,
      DROP COLUMN api_calls_by_route,
      DROP COLUMN generations_by_layer,
      DROP COLUMN tokens_by_model,
      DROP COLUMN rows_written,
      DROP COLUMN webhook_deliveries,
      ADD PRIMARY KEY (day, user_id)`.execute(db);
}
