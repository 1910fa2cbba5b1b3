import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findErasure, requestErasure } from '../../shared/erasures/ledger.ts';
import { eraseUserQueue } from '../../shared/erasures/queue.ts';
import { recordAsk } from '../../test/fixtures/generations.ts';
import { useJobWorker } from '../../test/fixtures/job-worker.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { applyErasuresJob } from '../apply-erasures/index.ts';
import { eraseUserJob } from './index.ts';

describe('erase-user with applyNow', () => {
  const database = useTestDatabase();
  const w = useJobWorker(
    database,
    { 'erase-user': eraseUserJob, 'apply-erasures': applyErasuresJob },
    () => ({ EXPORT_WORK_DIR: mkdtempSync(path.join(tmpdir(), 'lowburn-apply-now-')) }),
  );

  it('runs apply-erasures once the hot side is done, and the erasure ends done', async () => {
    await recordAsk(database.db, {
      at: new Date(),
      userId: 'now-user',
      apiKeyId: randomUUID(),
      prompt: 'forget me soon',
    });
    const secretsKey = w.config.secrets.key as Buffer;
    const erasure = await requestErasure(database.db, { userId: 'now-user', secretsKey });
    const job = await w.queues.add(eraseUserQueue, { erasureId: erasure.id, applyNow: true });
    const applyJobId = `apply-erasures.now.${erasure.id.replaceAll('-', '')}`;
    // The erasure is `done` from inside the apply-erasures job, before the job completes: wait
    // for the job itself.
    await waitUntil(
      async () =>
        (await w.queues.get(applyErasuresJob).getJob(applyJobId))?.finishedOn !== undefined,
      30_000,
      'apply-erasures, enqueued by the erase-user job, to finish',
    );
    const erased = await w.queues.get(eraseUserQueue).getJob(job.id ?? '');
    expect(erased?.returnvalue).toMatchObject({ status: 'hot-done', applyJobId });
    const applied = await w.queues.get(applyErasuresJob).getJob(applyJobId);
    expect(applied?.failedReason).toBeUndefined();
    expect(applied?.returnvalue).toMatchObject({ erasures: 1, finished: 1 });
    const done = await findErasure(database.db, erasure.id);
    expect(done).toMatchObject({ status: 'done', userId: null });
  });
});
