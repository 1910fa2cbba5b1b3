import { type Kysely, sql } from 'kysely';

/**
 * What the cold export needs beyond the first schema: a late-arrivals table for generations
 * (rows whose day was already handed to cold storage, like `telemetry_late`); the moment a day
 * was verified (the optional grace period before the drop counts from it); and the columns of
 * a day's files, so its manifest can always be rewritten from its `export_runs` row alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE generations_late (LIKE generations INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`.execute(
    db,
  );
  await sql`ALTER TABLE generations_late ADD PRIMARY KEY (id, created_at)`.execute(db);
  await sql`ALTER TABLE export_runs ADD COLUMN verified_at timestamptz, ADD COLUMN columns jsonb NOT NULL DEFAULT '[]'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE export_runs DROP COLUMN IF EXISTS verified_at, DROP COLUMN IF EXISTS columns`.execute(
    db,
  );
  await sql`DROP TABLE IF EXISTS generations_late`.execute(db);
}
