import { type Kysely, sql } from 'kysely';

/**
 * The erasure ledger (issue #19: erase a user everywhere): a row per erasure request.
 * - `user_id` is the person's id in clear only while the erasure has work left (the cold files
 *   still hold their rows); once `status` is `done` it is set to NULL and only `user_hash` — a
 *   keyed hash (HMAC-SHA256 under a key derived from `SECRETS_KEY`) — remains, so the ledger
 *   proves an erasure happened without keeping whom it erased.
 * - `erasures_user_once` makes asking twice one erasure: one open (not `done`) row per user.
 * - `status`: `pending` (recorded) → `hot-done` (hot rows, caches, payloads gone; cold files
 *   wait for `apply-erasures`) → `done` (cold files and fine-tune sets rewritten).
 * - `counts` holds what each step removed (per table / file), for `--verify` and the API.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE erasures (
      id uuid PRIMARY KEY,
      user_id text,
      user_hash text NOT NULL,
      device_ids text[] NOT NULL DEFAULT '{}',
      status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'hot-done', 'done')),
      requested_by text,
      requested_at timestamptz NOT NULL DEFAULT now(),
      hot_done_at timestamptz,
      cold_done_at timestamptz,
      counts jsonb NOT NULL DEFAULT '{}',
      CHECK (status = 'done' OR user_id IS NOT NULL)
    )`.execute(db);
  await sql`
    CREATE UNIQUE INDEX erasures_user_once ON erasures (user_hash) WHERE status <> 'done'
  `.execute(db);
  await sql`CREATE INDEX erasures_open ON erasures (status) WHERE status <> 'done'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS erasures`.execute(db);
}
