import { type Kysely, sql } from 'kysely';

/**
 * What webhook delivery needs beyond the first schema:
 * - `run` numbers a delivery's schedules: a replay starts run + 1, and a queued job of an older
 *   run finds itself stale and sends nothing (so a replay never doubles a delivery in flight);
 *   `run_attempts` counts the attempts of the current run, i.e. where it is in the schedule;
 * - `webhook_disabled_urls`: a URL that answered `410 Gone` for a key gets nothing more from
 *   that key until an operator replays a delivery to it;
 * - listing by time without a status (`lowburn webhooks list --since`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_deliveries
      ADD COLUMN run integer NOT NULL DEFAULT 0,
      ADD COLUMN run_attempts integer NOT NULL DEFAULT 0`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at)`.execute(db);
  await sql`
    CREATE TABLE webhook_disabled_urls (
      api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
      url text NOT NULL,
      delivery_id text REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
      disabled_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (api_key_id, url)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS webhook_disabled_urls`.execute(db);
  await sql`DROP INDEX IF EXISTS webhook_deliveries_created`.execute(db);
  await sql`
    ALTER TABLE webhook_deliveries
      DROP COLUMN IF EXISTS run,
      DROP COLUMN IF EXISTS run_attempts`.execute(db);
}
