import { type Kysely, sql } from 'kysely';

/**
 * `precompute_runs`: one row per run of the nightly precompute (`jobs/precompute-cache`), written
 * when it starts and updated as it goes, so a run killed half way is visible as `running` until
 * the next run marks it `abandoned`. The counts add up: every candidate is skipped as fresh,
 * generated (local or frontier), invalid, failed, or left for lack of budget.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE precompute_runs (
      id text PRIMARY KEY,
      state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'finished', 'failed', 'abandoned')),
      window_from timestamptz NOT NULL,
      window_to timestamptz NOT NULL,
      candidates integer NOT NULL DEFAULT 0,
      skipped_fresh integer NOT NULL DEFAULT 0,
      generated_local integer NOT NULL DEFAULT 0,
      generated_frontier integer NOT NULL DEFAULT 0,
      invalid integer NOT NULL DEFAULT 0,
      failed integer NOT NULL DEFAULT 0,
      skipped_budget integer NOT NULL DEFAULT 0,
      tokens_in bigint NOT NULL DEFAULT 0,
      tokens_out bigint NOT NULL DEFAULT 0,
      cost_usd numeric(14, 8) NOT NULL DEFAULT 0,
      stopped_by text CHECK (stopped_by IN ('time', 'cancelled')),
      error text,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      wall_ms integer
    )`.execute(db);
  await sql`CREATE INDEX precompute_runs_started ON precompute_runs (started_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS precompute_runs`.execute(db);
}
