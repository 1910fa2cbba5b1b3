import { z } from 'zod';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { applyErasures } from './apply-erasures.ts';

/**
 * Applies every erasure whose hot side is done to the cold store: each Parquet file holding an
 * erased user or device is rewritten once for the whole batch, verified, swapped into its day's
 * manifest, and only then deleted; see `erase-day.ts` for the steps and `apply-erasures.ts`
 * for the batch.
 */
export const applyErasuresJob = defineJob({
  queue: 'apply-erasures',
  description:
    'Rewrite the cold Parquet files holding erased users (all pending erasures at once), verify, replace the manifests, then delete the old files.',
  schema: z.object({}).strict(),
  // One at a time; the cold store's write lock also keeps it apart from export-cold (a busy
  // lock is an ordinary error: retried after the backoff).
  options: { attempts: 6, backoffMs: 10 * 60_000, timeoutMs: 4 * 60 * 60_000, concurrency: 1 },
  schedule: (config) => ({ cron: config.cold.eraseCron }),
  async process(_payload, { deps, signal, log }) {
    const { config } = deps;
    const result = await applyErasures({
      db: deps.db,
      databaseUrl: config.database.url,
      storage: deps.storage,
      log,
      duckdb: config.cold.duckdb,
      workDir: config.cold.workDir,
      signal,
    });
    return { ...result, days: result.days.length };
  },
});
