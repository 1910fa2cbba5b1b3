import path from 'node:path';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../shared/erasures/erasure-check.ts';
import { erasureHash } from '../../shared/erasures/erasure-hash.ts';
import { finetuneSetsCheck } from '../../shared/erasures/finetune-check.ts';
import { findErasure, requestErasure } from '../../shared/erasures/ledger.ts';
import {
  type FinetuneManifest,
  type FinetuneTombstone,
  readFinetuneSet,
} from '../../shared/finetune/manifest.ts';
import { exportFinetuneSchema } from '../../shared/finetune/queue.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { objectsUnder } from '../../test/fixtures/erasure-cold.ts';
import { useFinetuneExport } from '../../test/fixtures/finetune.ts';
import { recordPair } from '../../test/fixtures/generations.ts';
import { exportFinetune } from '../export-finetune/export-finetune.ts';
import { rebuildRequest } from '../export-finetune/request.ts';
import { applyErasures } from './apply-erasures.ts';

const log = createLogger({ level: 'silent' });
const today = new Date().toISOString().slice(0, 10);
const HOLDS = `finetune/summary/${today}/`;
const CLEAN = `finetune/all/${today}/`;
const hot = (minute: number) => new Date(Date.now() - 90 * 60_000 + minute * 60_000);

describe('apply-erasures and the fine-tune sets', () => {
  const h = useFinetuneExport();
  let erasureId = '';
  let userHash = '';

  async function pairs(user: string, count: number) {
    for (let i = 0; i < count; i++) {
      const id = await recordPair(h.database.db, {
        at: hot(i),
        prompt: `Summarise ${user}'s note ${i}`,
      });
      await sql`UPDATE generations SET user_id = ${user} WHERE id = ${id}`.execute(h.database.db);
    }
  }

  beforeAll(async () => {
    // A set exported before `leaver` asked anything (it cannot hold them), then one that does.
    await pairs('stayer', 12);
    await h.run({});
    await pairs('leaver', 12);
    await h.run({ task: 'summary' });
    const secretsKey = h.config.secrets.key as Buffer;
    // The hot side done: their rows gone, the erasure waiting for the cold side.
    const erasure = await requestErasure(h.database.db, { userId: 'leaver', secretsKey });
    erasureId = erasure.id;
    userHash = erasureHash('leaver', secretsKey);
    await sql`DELETE FROM generations WHERE user_id = 'leaver'`.execute(h.database.db);
    await h.database.db
      .updateTable('erasures')
      .set({ status: 'hot-done', hot_done_at: new Date() })
      .where('id', '=', erasureId)
      .execute();
  });

  const apply = (
    rebuilds: string[],
    afterStep?: Parameters<typeof applyErasures>[0]['afterStep'],
  ) =>
    applyErasures({
      db: h.database.db,
      databaseUrl: h.database.url,
      storage: h.storage,
      log,
      duckdb: { memoryLimit: '128MB', threads: 1 },
      workDir: path.join(h.dir, 'erase'),
      rebuildFinetuneSet: async (prefix) => {
        rebuilds.push(prefix);
      },
      ...(afterStep && { afterStep }),
    });
  const check = async () => {
    const erasure = await findErasure(h.database.db, erasureId);
    if (!erasure) throw new Error('no erasure');
    return finetuneSetsCheck(h.storage).run({ db: h.database.db } as VerifyContext, {
      ...erasure,
      subjectUserId: 'leaver',
    });
  };

  it("indexes each set's users by keyed hash, naming no one", async () => {
    const holds = (await readFinetuneSet(h.storage, HOLDS))?.manifest as FinetuneManifest;
    expect(holds.users).toMatchObject({ format: 'bloom.sha256.v1', ids: 2 });
    expect(JSON.stringify(holds)).not.toMatch(/leaver|stayer/);
    expect((await readFinetuneSet(h.storage, CLEAN))?.manifest).toMatchObject({
      users: { ids: 1 },
    });
    expect(await check()).toEqual([
      expect.objectContaining({ place: HOLDS, rows: 24, note: expect.stringContaining('waiting') }),
    ]);
  });

  it('removes the set holding the erased user (finishing after a crash), asks for its rebuild, and leaves the other alone', async () => {
    const clean = await objectsUnder(h.storage, CLEAN);
    const rebuilds: string[] = [];
    // A crash right after the tombstone: its files are still there, and --verify says so.
    await expect(
      apply(rebuilds, (step, at) => {
        if (step === 'published' && at.table === 'finetune') throw new Error('crash');
      }),
    ).rejects.toThrow('crash');
    expect(rebuilds).toEqual([]);
    expect(await check()).toEqual([
      expect.objectContaining({ place: HOLDS, note: expect.stringContaining('3 file(s)') }),
    ]);

    const result = await apply(rebuilds);
    expect(result).toMatchObject({ erasures: 1, finished: 1 });
    expect(rebuilds).toEqual([HOLDS]);
    expect(await h.keys(HOLDS)).toEqual([`${HOLDS}manifest.json`]);
    const tombstone = (await readFinetuneSet(h.storage, HOLDS))?.manifest as FinetuneTombstone;
    expect(tombstone).toMatchObject({
      files: [],
      source: { task: 'summary', include: expect.any(Array) },
      erased: { userHashes: [userHash], written: 24, reason: expect.stringContaining('rebuilt') },
    });
    expect(await objectsUnder(h.storage, CLEAN)).toEqual(clean);
    // Done erasures are checked by their keyed hash: nothing of the user is left in any set.
    expect((await findErasure(h.database.db, erasureId))?.status).toBe('done');
    expect(await check()).toEqual([]);

    // A later run asks again for the rebuild (the job id makes it one job), removes nothing new.
    const again: string[] = [];
    expect((await apply(again)).finetuneSetsRemoved).toEqual([]);
    expect(again).toEqual([HOLDS]);
  });

  it('rebuilds the set in its own folder from its own request, without the erased user', async () => {
    const set = await readFinetuneSet(h.storage, HOLDS);
    if (set?.kind !== 'erased') throw new Error('expected a tombstone');
    const manifest = await exportFinetune({
      config: h.config,
      storage: h.storage,
      log,
      request: rebuildRequest(set.manifest, HOLDS),
    });
    expect(manifest.source.since).toBe(set.manifest.source.since);
    expect(manifest.rebuilt).toMatchObject({ userHashes: [userHash], written: 24 });
    expect(manifest.counts.written).toBe(12);
    const lines = [
      ...(await h.lines(`${HOLDS}train.jsonl`)),
      ...(await h.lines(`${HOLDS}validation.jsonl`)),
    ];
    expect(lines).toHaveLength(12);
    expect(lines.filter((l) => l.includes('leaver'))).toEqual([]);
    expect(await check()).toEqual([]);
  });

  it("takes a rebuild's folder alone, checked", () => {
    expect(exportFinetuneSchema.safeParse({ rebuild: HOLDS }).success).toBe(true);
    expect(
      exportFinetuneSchema.safeParse({ rebuild: HOLDS, task: 'summary' }).error?.message,
    ).toMatch(/give no other field/);
    expect(exportFinetuneSchema.safeParse({ rebuild: '../etc/' }).error?.message).toMatch(
      /finetune\/all\//,
    );
  });
});
