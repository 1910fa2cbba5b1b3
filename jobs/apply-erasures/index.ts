import { applyErasuresQueue } from '../../shared/erasures/queue.ts';
import { exportFinetuneQueue } from '../../shared/finetune/queue.ts';
import { defineJob } from '../../shared/queue/job-definition.ts';
import { applyErasures } from './apply-erasures.ts';

/**
 * Applies every erasure whose hot side is done to the cold store: each Parquet file holding an
 * erased user or device is rewritten once for the whole batch, verified, swapped into its day's
 * manifest, and only then deleted; see `erase-day.ts` for the steps and `apply-erasures.ts`
 * for the batch.
 */
export const applyErasuresJob = defineJob({
  ...applyErasuresQueue,
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
      rebuildFinetuneSet: async (prefix, tombstone) => {
        // One rebuild per tombstone: a rerun asking again adds nothing.
        const token = `${prefix.replaceAll('/', '_')}${Date.parse(tombstone.erased.at)}`;
        await deps.enqueue(
          exportFinetuneQueue,
          { rebuild: prefix },
          { jobId: `export-finetune.rebuild.${token}` },
        );
      },
    });
    return { ...result, days: result.days.length };
  },
});
