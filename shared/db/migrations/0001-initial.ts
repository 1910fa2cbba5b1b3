import { type Kysely, sql } from 'kysely';

/**
 * The whole data model of ARCHITECTURE.md. `telemetry` and `generations` are range-partitioned
 * by UTC day; retention drops whole partitions after export instead of a mass DELETE, so every
 * primary key there includes the partition column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE telemetry (
      ping_id uuid NOT NULL,
      device_id text NOT NULL,
      user_id text,
      ts timestamptz NOT NULL,
      metric text NOT NULL,
      value double precision NOT NULL,
      attrs jsonb,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (ping_id, ts)
    ) PARTITION BY RANGE (ts)`.execute(db);
  await sql`CREATE INDEX telemetry_device_ts ON telemetry (device_id, ts)`.execute(db);

  // id is the BullMQ job id and created_at the job's own timestamp: both survive a retry,
  // so a retried job writes one row.
  await sql`
    CREATE TABLE generations (
      id text NOT NULL,
      created_at timestamptz NOT NULL,
      api_key_id uuid,
      user_id text NOT NULL,
      task_type text NOT NULL,
      prompt text NOT NULL,
      prompt_hash text NOT NULL,
      request jsonb NOT NULL,
      response text,
      status text NOT NULL CHECK (status IN ('completed', 'failed')),
      cache_layer text CHECK (cache_layer IN ('precomputed', 'exact', 'template', 'semantic')),
      route text CHECK (route IN ('local', 'frontier')),
      model text,
      tokens_in integer NOT NULL DEFAULT 0,
      tokens_out integer NOT NULL DEFAULT 0,
      cost_usd numeric(14, 8) NOT NULL DEFAULT 0,
      latency_ms integer,
      error text,
      metadata jsonb,
      PRIMARY KEY (id, created_at)
    ) PARTITION BY RANGE (created_at)`.execute(db);
  await sql`CREATE INDEX generations_user_created ON generations (user_id, created_at)`.execute(db);
  await sql`CREATE INDEX generations_prompt_hash ON generations (prompt_hash)`.execute(db);

  await sql`
    CREATE TABLE export_runs (
      table_name text NOT NULL,
      day date NOT NULL,
      state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'written', 'uploaded', 'verified', 'dropped', 'failed')),
      rows bigint,
      bytes bigint,
      files jsonb NOT NULL DEFAULT '[]',
      manifest_key text,
      attempts integer NOT NULL DEFAULT 0,
      error text,
      started_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      PRIMARY KEY (table_name, day)
    )`.execute(db);

  await sql`
    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      prefix text NOT NULL UNIQUE,
      key_hash text NOT NULL UNIQUE,
      scopes text[] NOT NULL,
      webhook_secret text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`.execute(db);

  await sql`
    CREATE TABLE idempotency_keys (
      api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
      key text NOT NULL,
      request_hash text NOT NULL,
      job_id text,
      response_status integer,
      response_body jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (api_key_id, key)
    )`.execute(db);
  await sql`CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at)`.execute(db);

  // id is the Standard Webhooks `webhook-id`: stable across retries and replays.
  await sql`
    CREATE TABLE webhook_deliveries (
      id text PRIMARY KEY,
      api_key_id uuid REFERENCES api_keys (id) ON DELETE SET NULL,
      job_id text NOT NULL,
      event_type text NOT NULL,
      url text NOT NULL,
      payload jsonb NOT NULL,
      status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed', 'dead', 'disabled')),
      attempts integer NOT NULL DEFAULT 0,
      last_status_code integer,
      last_error text,
      next_attempt_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, created_at)`.execute(
    db,
  );
  await sql`
    CREATE TABLE webhook_attempts (
      delivery_id text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      status_code integer,
      duration_ms integer NOT NULL,
      error text,
      attempted_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (delivery_id, attempt)
    )`.execute(db);

  await sql`
    CREATE TABLE usage_daily (
      day date NOT NULL,
      user_id text NOT NULL,
      api_calls bigint NOT NULL DEFAULT 0,
      generations bigint NOT NULL DEFAULT 0,
      tokens_in bigint NOT NULL DEFAULT 0,
      tokens_out bigint NOT NULL DEFAULT 0,
      cost_usd numeric(14, 8) NOT NULL DEFAULT 0,
      cache_hits jsonb NOT NULL DEFAULT '{}',
      local_calls bigint NOT NULL DEFAULT 0,
      frontier_calls bigint NOT NULL DEFAULT 0,
      telemetry_pings bigint NOT NULL DEFAULT 0,
      db_writes bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (day, user_id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'usage_daily',
    'webhook_attempts',
    'webhook_deliveries',
    'idempotency_keys',
    'api_keys',
    'export_runs',
    'generations',
    'telemetry',
  ]) {
    // CASCADE drops the day partitions with their parent.
    await sql`DROP TABLE IF EXISTS ${sql.table(table)} CASCADE`.execute(db);
  }
}
