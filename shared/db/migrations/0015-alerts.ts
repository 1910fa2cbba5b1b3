import { type Kysely, sql } from 'kysely';

/**
 * Operator alerts (`jobs/check-alerts`, shared/alerts): a row per condition and day it fired,
 * so "at most once per condition per day" and "resolved" hold across workers and restarts.
 * - the primary key `(condition, day)` refuses a second firing the same day;
 * - `alerts_open` allows one unresolved row per condition: a condition still firing the next
 *   day is the same alert, not a new one;
 * - `triggered_sent_at` / `resolved_sent_at` make the table its own outbox: the event is queued
 *   (idempotently, by a delivery id derived from the row) before the row is marked sent, so a
 *   worker killed in between sends it on the next run, and a race sends it once.
 * A row per condition and day: no partitioning.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE alerts (
      condition text NOT NULL,
      day date NOT NULL,
      fired_at timestamptz NOT NULL DEFAULT now(),
      details jsonb NOT NULL,
      triggered_sent_at timestamptz,
      resolved_at timestamptz,
      resolved_details jsonb,
      resolved_sent_at timestamptz,
      PRIMARY KEY (condition, day)
    )`.execute(db);
  await sql`CREATE UNIQUE INDEX alerts_open ON alerts (condition) WHERE resolved_at IS NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS alerts`.execute(db);
}
