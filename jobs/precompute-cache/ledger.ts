import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';

/** What a run did, candidate by candidate; the counts add up to `candidates`. */
export interface RunTally {
  candidates: number;
  skippedFresh: number;
  generatedLocal: number;
  generatedFrontier: number;
  invalid: number;
  failed: number;
  /** Candidates never started: the wall-clock budget ran out (or the run was cancelled). */
  skippedBudget: number;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
}

export const emptyTally = (): RunTally => ({
  candidates: 0,
  skippedFresh: 0,
  generatedLocal: 0,
  generatedFrontier: 0,
  invalid: 0,
  failed: 0,
  skippedBudget: 0,
  tokensIn: 0,
  tokensOut: 0,
  costUsd: 0,
});

const columns = (tally: RunTally) => ({
  candidates: tally.candidates,
  skipped_fresh: tally.skippedFresh,
  generated_local: tally.generatedLocal,
  generated_frontier: tally.generatedFrontier,
  invalid: tally.invalid,
  failed: tally.failed,
  skipped_budget: tally.skippedBudget,
  tokens_in: String(tally.tokensIn),
  tokens_out: String(tally.tokensOut),
  cost_usd: tally.costUsd.toFixed(8),
});

/**
 * Starts (or, for a retried job, restarts) a run's `precompute_runs` row, and marks runs that
 * stopped without finishing — a killed worker — `abandoned` once they are older than any run
 * can last (`staleAfterMs`: the time budget plus the in-flight tail).
 */
export async function startRun(
  db: Db,
  run: { id: string; from: Date; to: Date; staleAfterMs: number },
): Promise<void> {
  await db
    .updateTable('precompute_runs')
    .set({ state: 'abandoned' })
    .where('state', '=', 'running')
    .where('id', '<>', run.id)
    .where('started_at', '<', new Date(Date.now() - run.staleAfterMs))
    .execute();
  await db
    .insertInto('precompute_runs')
    .values({ id: run.id, window_from: run.from, window_to: run.to })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        state: 'running',
        window_from: run.from,
        window_to: run.to,
        started_at: sql`now()`,
        finished_at: null,
        error: null,
        stopped_by: null,
        ...columns(emptyTally()),
      }),
    )
    .execute();
}

/** The counts so far (written as the run goes, so a killed run shows how far it got). */
export async function recordProgress(db: Db, id: string, tally: RunTally): Promise<void> {
  await db.updateTable('precompute_runs').set(columns(tally)).where('id', '=', id).execute();
}

export async function finishRun(
  db: Db,
  id: string,
  end: { tally: RunTally; wallMs: number; stoppedBy: 'time' | null; error?: string },
): Promise<void> {
  await db
    .updateTable('precompute_runs')
    .set({
      ...columns(end.tally),
      state: end.error ? 'failed' : 'finished',
      error: end.error ?? null,
      stopped_by: end.stoppedBy,
      finished_at: sql`now()`,
      wall_ms: Math.round(end.wallMs),
    })
    .where('id', '=', id)
    .execute();
}
