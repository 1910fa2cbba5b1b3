import { type Kysely, sql } from 'kysely';

/**
 * The cold side of an erasure (issue #19), `apply-erasures`' own state:
 * - `erasure_files`: one row per cold file rewritten without erased users, keyed by the file it
 *   replaces (a file is rewritten at most once; its replacement has a key of its own). `state`
 *   follows the rewrite: `written` (local file) → `uploaded` → `verified` (read back) →
 *   `committed` (`export_runs.files` names the new file) → `deleted` (the old object is gone).
 *   `removed` holds the rows taken out per erasure id, for the ledger's counts.
 * - `export_runs.erasures`: the erasures applied to a day (keyed hashes and counts, never a user
 *   id), which every later manifest of the day repeats.
 * - `open_erasure_users`: the users an export must leave out (an erasure recorded, not done);
 *   the fine-tune export loads it next to cold `generations`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE erasure_files (
      table_name text NOT NULL,
      day date NOT NULL,
      old_key text NOT NULL,
      new_key text NOT NULL,
      state text NOT NULL
        CHECK (state IN ('written', 'uploaded', 'verified', 'committed', 'deleted')),
      old_rows bigint NOT NULL,
      rows bigint NOT NULL,
      bytes bigint NOT NULL,
      sha256 text NOT NULL,
      removed jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (table_name, day, old_key)
    )`.execute(db);
  await sql`
    CREATE INDEX erasure_files_open ON erasure_files (table_name, day) WHERE state <> 'deleted'
  `.execute(db);
  await sql`ALTER TABLE export_runs ADD COLUMN erasures jsonb NOT NULL DEFAULT '[]'`.execute(db);
  await sql`
    CREATE VIEW open_erasure_users AS
    SELECT user_id FROM erasures WHERE status <> 'done' AND user_id IS NOT NULL
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP VIEW IF EXISTS open_erasure_users`.execute(db);
  await sql`ALTER TABLE export_runs DROP COLUMN IF EXISTS erasures`.execute(db);
  await sql`DROP TABLE IF EXISTS erasure_files`.execute(db);
}
