import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { erasureHash } from '../../shared/erasures/erasure-hash.ts';
import { type FinetuneManifest, readFinetuneSet } from '../../shared/finetune/manifest.ts';
import { exportFinetuneQueue } from '../../shared/finetune/queue.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { useFinetuneExport } from '../../test/fixtures/finetune.ts';
import { recordPair } from '../../test/fixtures/generations.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { eraseFinetuneSets } from '../apply-erasures/finetune-sets.ts';
import { exportFinetuneJob } from './index.ts';

const today = new Date().toISOString().slice(0, 10);
const SET = `finetune/summary/${today}/`;

describe('export-finetune with rebuild, on a worker', () => {
  const h = useFinetuneExport();
  const w = useJobWorker(h.database, { 'export-finetune': exportFinetuneJob }, () => ({
    STORAGE_URL: `file:${h.dir}/objects`,
    OLLAMA_URL: h.ollama.url,
    COLD_CACHE_DIR: `${h.dir}/cache`,
    EXPORT_WORK_DIR: `${h.dir}/work`,
    DUCKDB_MEMORY_LIMIT: '128MB',
  }));

  beforeAll(async () => {
    for (const user of ['stayer', 'leaver']) {
      for (let i = 0; i < 12; i++) {
        const id = await recordPair(h.database.db, {
          at: new Date(Date.now() - 60 * 60_000 + i * 60_000),
          prompt: `Summarise ${user}'s memo ${i}`,
        });
        await sql`UPDATE generations SET user_id = ${user} WHERE id = ${id}`.execute(h.database.db);
      }
    }
    await h.run({ task: 'summary' });
    // The erasure's hot side took their rows; apply-erasures removes the set.
    await sql`DELETE FROM generations WHERE user_id = 'leaver'`.execute(h.database.db);
    const userHash = erasureHash('leaver', h.config.secrets.key as Buffer);
    await eraseFinetuneSets(
      { storage: h.storage, log: createLogger({ level: 'silent' }), now: () => new Date() },
      { erasures: [{ id: 'e1', userId: 'leaver', userHash, deviceIds: [] }], keys: [] },
      async () => {},
    );
  });

  const run = async (payload: { rebuild: string }) => {
    const job = await w.queues.add(exportFinetuneQueue, payload);
    let done: Awaited<ReturnType<typeof job.getState>> = 'unknown';
    await waitUntil(
      async () => {
        done = await w.queues.get(exportFinetuneQueue).getJobState(job.id ?? '');
        return done === 'completed' || done === 'failed';
      },
      60_000,
      'the export-finetune job to finish',
    );
    const finished = await w.queues.get(exportFinetuneQueue).getJob(job.id ?? '');
    expect(done, finished?.failedReason).toBe('completed');
    return finished?.returnvalue;
  };

  it('writes the removed set again into its folder, without the erased user, and only once', async () => {
    expect((await readFinetuneSet(h.storage, SET))?.kind).toBe('erased');
    expect(await run({ rebuild: SET })).toMatchObject({ prefix: SET });
    const set = await readFinetuneSet(h.storage, SET);
    expect(set?.kind).toBe('published');
    const manifest = set?.manifest as FinetuneManifest;
    expect(manifest.counts.written).toBe(12);
    expect(manifest.rebuilt).toMatchObject({ written: 24 });
    const lines = [
      ...(await h.lines(`${SET}train.jsonl`)),
      ...(await h.lines(`${SET}validation.jsonl`)),
    ];
    expect(lines.filter((l) => l.includes('leaver'))).toEqual([]);
    expect(lines).toHaveLength(12);
    // Asked again (a rerun of apply-erasures, a retry): nothing to do.
    expect(await run({ rebuild: SET })).toEqual({
      prefix: SET,
      skipped: 'the set is published (rebuilt already?)',
    });
  });
});
