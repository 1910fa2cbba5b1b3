import { type Kysely, sql } from 'kysely';

/**
 * `model_versions`: each (local model, `LOCAL_MODEL_VERSION`, digest) a worker first ran, with
 * when it was first seen and the one seen before it — the version changes the before-and-after
 * report (`lowburn finetune report`) compares around. Every worker records what it reads (the
 * digest is read again every 5 minutes), so the unique constraint makes the fleet's many
 * writes one row (`ON CONFLICT DO NOTHING`). A row per model change: no partitioning.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE model_versions (
      id bigserial PRIMARY KEY,
      local_model text NOT NULL,
      model_version text NOT NULL,
      digest text NOT NULL,
      first_seen_at timestamptz NOT NULL DEFAULT now(),
      previous_model text,
      previous_version text,
      previous_digest text,
      UNIQUE (local_model, model_version, digest)
    )`.execute(db);
  await sql`CREATE INDEX model_versions_first_seen ON model_versions (first_seen_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS model_versions`.execute(db);
}
