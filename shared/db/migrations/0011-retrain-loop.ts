import { type Kysely, sql } from 'kysely';

/**
 * What the retrain loop reads:
 * - `generations.fallback_reason` (and on `generations_late`): why the local model's answer was
 *   not used when the frontier one answered after it — `error`, `timeout` or `invalid`. NULL for
 *   every other row (a cache hit, a local answer, a request routed straight to the frontier).
 *   Cold days exported before this column read it as NULL (`union_by_name`).
 * - `shadow_comparisons`: a sample of local answers also asked of the frontier model in the
 *   background, and whether the two agreed (JSON-equal, or embedding cosine above a threshold).
 *   Keyed by the generation's id (its job id); the frontier's answer is kept, since a
 *   disagreement is a training pair.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of ['generations', 'generations_late']) {
    await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN fallback_reason text
      CHECK (fallback_reason IN ('error', 'timeout', 'invalid'))`.execute(db);
  }
  await sql`
    CREATE TABLE shadow_comparisons (
      generation_id text PRIMARY KEY,
      created_at timestamptz NOT NULL DEFAULT now(),
      task_type text NOT NULL,
      local_model text NOT NULL,
      local_digest text,
      frontier_model text NOT NULL,
      agreed boolean NOT NULL,
      similarity double precision,
      frontier_answer text NOT NULL,
      tokens_in integer NOT NULL DEFAULT 0,
      tokens_out integer NOT NULL DEFAULT 0,
      cost_usd numeric(14, 8) NOT NULL DEFAULT 0
    )`.execute(db);
  await sql`CREATE INDEX shadow_comparisons_created ON shadow_comparisons (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS shadow_comparisons`.execute(db);
  for (const table of ['generations_late', 'generations']) {
    await sql`ALTER TABLE ${sql.table(table)} DROP COLUMN IF EXISTS fallback_reason`.execute(db);
  }
}
