import { type Kysely, sql } from 'kysely';

/**
 * `cache_audits`: what the nightly false-hit audit (`jobs/audit-cache`) measured, one row per
 * audited day and task type — the day's semantic hits, how many were asked again, how many of
 * those could be judged, how many were wrong, the rate and its 95 % Wilson score interval (NULL
 * when nothing could be judged), and the thresholds it was judged by. A rerun of a day replaces
 * the day's rows. A row a day per task type: no partitioning.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE cache_audits (
      day date NOT NULL,
      task_type text NOT NULL,
      semantic_hits integer NOT NULL CHECK (semantic_hits >= 0),
      sampled integer NOT NULL CHECK (sampled >= 0),
      sample_size integer NOT NULL CHECK (sample_size >= 0 AND sample_size <= sampled),
      false_hits integer NOT NULL CHECK (false_hits >= 0 AND false_hits <= sample_size),
      false_hit_rate double precision CHECK (false_hit_rate BETWEEN 0 AND 1),
      ci_low double precision CHECK (ci_low BETWEEN 0 AND 1),
      ci_high double precision CHECK (ci_high BETWEEN 0 AND 1),
      min_similarity double precision NOT NULL,
      max_false_hit double precision NOT NULL,
      job_id text,
      audited_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (day, task_type)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE cache_audits`.execute(db);
}
