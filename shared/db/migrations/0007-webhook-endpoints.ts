import { type Kysely, sql } from 'kysely';

/**
 * What per-endpoint webhook dispatch needs (see the README's Webhooks section):
 * - `webhook_deliveries.endpoint`: the URL's origin (scheme, host and port, lower-cased), the
 *   unit a receiver fails as. Computed by Postgres so every reader agrees on it, and filled in
 *   for the rows that exist;
 * - the pending deliveries by endpoint and due time, so the dispatcher pulls an endpoint's next
 *   due ones without reading its backlog; first attempts get an index of their own, so "first
 *   attempts ahead of retries" reads no retries when there are first attempts to send;
 * - `webhook_endpoints`: per key and endpoint, since when every attempt has failed (`NULL`
 *   after a success) and when it was disabled for that (`WEBHOOK_DISABLE_AFTER`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE webhook_deliveries ADD COLUMN endpoint text NOT NULL
      GENERATED ALWAYS AS (
        coalesce(lower(substring(url from '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*')), url)
      ) STORED`.execute(db);
  await sql`
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (api_key_id, endpoint, next_attempt_at)
    WHERE status = 'pending'`.execute(db);
  await sql`
    CREATE INDEX webhook_deliveries_pending_first ON webhook_deliveries (api_key_id, endpoint, next_attempt_at)
    WHERE status = 'pending' AND run_attempts = 0`.execute(db);
  await sql`
    CREATE TABLE webhook_endpoints (
      api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
      endpoint text NOT NULL,
      failing_since timestamptz,
      disabled_at timestamptz,
      PRIMARY KEY (api_key_id, endpoint)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS webhook_endpoints`.execute(db);
  await sql`DROP INDEX IF EXISTS webhook_deliveries_pending_first`.execute(db);
  await sql`DROP INDEX IF EXISTS webhook_deliveries_pending`.execute(db);
  await sql`ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS endpoint`.execute(db);
}
