import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coldLayout, readManifest } from '../../shared/cold/layout.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { coldRows, testExportOptions, useStorage } from '../../test/fixtures/cold.ts';
import {
  objectsUnder,
  recordHotDoneErasure,
  seedUserDay,
} from '../../test/fixtures/erasure-cold.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import type { ExportStep } from '../export-cold/export-day.ts';
import { type ApplyErasuresOptions, applyErasures } from './apply-erasures.ts';
import type { EraseStep } from './context.ts';

const NOW = new Date('2026-11-25T00:30:00Z');
const STEPS: EraseStep[] = [
  'written',
  'uploaded',
  'verified',
  'committed',
  'published',
  'deleted',
  'finished',
];

class Crash extends Error {}

describe('apply-erasures after a crash', () => {
  const database = useTestDatabase();
  const store = useStorage('file');
  let workDir = '';
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'lowburn-erase-crash-'));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });
  const apply = (options: Partial<ApplyErasuresOptions> = {}) =>
    applyErasures({
      db: database.db,
      databaseUrl: database.url,
      storage: store.storage,
      log: createLogger({ level: 'silent' }),
      duckdb: { memoryLimit: '128MB', threads: 1 },
      workDir,
      now: () => NOW,
      ...options,
    });
  const exportAll = (afterStep?: (step: ExportStep) => unknown) =>
    exportCold(
      testExportOptions(database, store.storage, workDir, {
        tables: ['telemetry', 'generations'],
        now: () => NOW,
        afterStep,
      }),
    );
  /** Every object of the day is one the manifest names (or the manifest), and each verifies. */
  async function oneVersion(table: string, day: string) {
    const manifest = await readManifest(store.storage, table, day);
    const objects = await objectsUnder(store.storage, coldLayout.dayPrefix(table, day));
    for (const file of manifest?.files ?? []) {
      expect(objects.get(file.key)).toMatchObject({ size: file.bytes, sha256: file.sha256 });
    }
    return { manifest, objects };
  }

  it.each(STEPS.map((step, i) => [step, i] as const))(
    'after "%s", a rerun ends with one consistent version of the day and the user gone',
    async (step, i) => {
      const day = `2026-11-${String(10 + i).padStart(2, '0')}`;
      const victim = `victim-${i}`;
      await seedUserDay(database.db, day, [victim, `other-${i}`], 30);
      await exportAll();
      const before = (await coldRows(store.storage, 'generations', day, '*', 'id')).rows;
      const id = await recordHotDoneErasure(database.db, victim);

      await expect(
        apply({
          afterStep: (at) => {
            if (at === step) throw new Crash(step);
          },
        }),
      ).rejects.toBeInstanceOf(Crash);
      // Whatever the step, a reader sees one whole version: every named file is there, intact.
      for (const table of ['telemetry', 'generations']) await oneVersion(table, day);

      await apply();
      for (const table of ['telemetry', 'generations']) {
        const { manifest, objects } = await oneVersion(table, day);
        expect([...objects.keys()].sort()).toEqual(
          [...(manifest?.files ?? []).map((f) => f.key), coldLayout.manifestKey(table, day)].sort(),
        );
        const rows = (await coldRows(store.storage, table, day, 'user_id', 'user_id')).rows;
        expect(rows.filter((r) => r.user_id === victim)).toEqual([]);
        expect(manifest?.erasures).toHaveLength(1);
      }
      const after = (await coldRows(store.storage, 'generations', day, '*', 'id')).rows;
      expect(after).toEqual(before.filter((r) => r.user_id !== victim));
      const ledger = await database.db
        .selectFrom('erasures')
        .select(['status', 'user_id', 'counts'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(ledger).toMatchObject({
        status: 'done',
        user_id: null,
        // A tenth of a user's telemetry rows carry no user id (seedUserDay): 27 of 30 are theirs.
        counts: { cold: { rows: { telemetry: 27, generations: 30 }, files: 2 } },
      });
    },
  );

  it('keeps an erasure open while a day holding the user is mid-export, and closes it once exported', async () => {
    const day = '2026-11-01';
    await seedUserDay(database.db, day, ['late-leaver', 'stayer'], 30);
    // The export stops after uploading; then the erasure arrives and its hot side deletes the
    // partition's rows (as the hot erasure does).
    await expect(
      exportAll((step) => {
        if (step === 'uploaded') throw new Crash(step);
      }),
    ).rejects.toThrow();
    await sql`DELETE FROM telemetry WHERE user_id = 'late-leaver'`.execute(database.db);
    await sql`DELETE FROM generations WHERE user_id = 'late-leaver'`.execute(database.db);
    const id = await recordHotDoneErasure(database.db, 'late-leaver');

    const waiting = await apply();
    expect(waiting.finished).toBe(0);
    expect(waiting.waitingForExport.map((w) => w.day)).toContain(day);
    const open = await database.db
      .selectFrom('erasures')
      .select(['status', 'user_id'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(open).toEqual({ status: 'hot-done', user_id: 'late-leaver' });

    // The export finds its files disagree with the partition, and writes the day again.
    await exportAll().catch(() => {});
    await exportAll();
    const done = await apply();
    expect(done).toMatchObject({ finished: 1, waitingForExport: [] });
    for (const table of ['telemetry', 'generations']) {
      const rows = (await coldRows(store.storage, table, day, 'user_id', 'user_id')).rows;
      expect(rows.filter((r) => r.user_id === 'late-leaver')).toEqual([]);
      expect(rows.filter((r) => r.user_id === 'stayer')).toHaveLength(
        table === 'telemetry' ? 27 : 30,
      );
    }
  });

  it('scans the files of a day exported before the user index existed, and rewrites only those holding the user', async () => {
    const day = '2026-11-02';
    await seedUserDay(database.db, day, ['old-timer'], 30);
    await seedUserDay(database.db, '2026-11-03', ['someone-else'], 30);
    await exportAll();
    // Strip the index, as a day exported by an older lowburn has none.
    await sql`UPDATE export_runs SET files = (
        SELECT jsonb_agg(f - 'users') FROM jsonb_array_elements(files) f)
      WHERE day IN ('2026-11-02', '2026-11-03')`.execute(database.db);
    const untouched = await objectsUnder(store.storage, 'cold/telemetry/dt=2026-11-03/');
    await recordHotDoneErasure(database.db, 'old-timer');

    const result = await apply();
    const byDay = (d: string) => result.days.filter((x) => x.day === d);
    expect(byDay('2026-11-02').map((d) => d.filesRewritten)).toEqual([1, 1]);
    expect(byDay('2026-11-03').map((d) => [d.filesScanned, d.filesRewritten])).toEqual([
      [1, 0],
      [1, 0],
    ]);
    expect(await objectsUnder(store.storage, 'cold/telemetry/dt=2026-11-03/')).toEqual(untouched);
  });
});
