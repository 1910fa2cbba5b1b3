import { type Kysely, sql } from 'kysely';

/**
 * Pings that arrive for a day whose partition is being, or has been, exported to cold storage.
 * They are kept here (never dropped) and the export takes them as an additional part.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE telemetry_late (
      ping_id uuid NOT NULL,
      device_id text NOT NULL,
      user_id text,
      ts timestamptz NOT NULL,
      metric text NOT NULL,
      value double precision NOT NULL,
      attrs jsonb,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (ping_id, ts)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS telemetry_late`.execute(db);
}
