import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coldLayout, readManifest } from '../../shared/cold/layout.ts';
import { takeColdWriteLock } from '../../shared/cold/write-lock.ts';
import { checkColdErased, coldFilesCheck } from '../../shared/erasures/cold-check.ts';
import type { VerifyContext } from '../../shared/erasures/erasure-check.ts';
import { findErasure } from '../../shared/erasures/ledger.ts';
import { createLogger } from '../../shared/log/logger.ts';
import {
  coldRows,
  type StorageKind,
  testExportOptions,
  useStorage,
} from '../../test/fixtures/cold.ts';
import {
  objectsUnder,
  recordHotDoneErasure,
  seedUserDay,
} from '../../test/fixtures/erasure-cold.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import { applyErasures, ColdStoreBusyError } from './apply-erasures.ts';

const NOW = new Date('2026-11-25T00:30:00Z');
const DAYS = ['2026-11-20', '2026-11-21', '2026-11-22'];
const QUIET_DAY = '2026-11-23';
const USERS = ['ann', 'bob', 'cat', 'dan', 'eve'];

describe.each<StorageKind>(['file', 's3'])('apply-erasures with %s storage', (kind) => {
  const database = useTestDatabase();
  const store = useStorage(kind);
  let workDir = '';
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'lowburn-erase-'));
    for (const day of DAYS) await seedUserDay(database.db, day, USERS, 40);
    // A day none of the erased users touched.
    await seedUserDay(database.db, QUIET_DAY, ['zed', 'yan'], 40);
    await exportCold(
      testExportOptions(database, store.storage, workDir, {
        tables: ['telemetry', 'generations'],
        rowsPerFile: 1_000,
        now: () => NOW,
      }),
    );
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });
  const apply = () =>
    applyErasures({
      db: database.db,
      databaseUrl: database.url,
      storage: store.storage,
      log: createLogger({ level: 'silent' }),
      duckdb: { memoryLimit: '128MB', threads: 1 },
      workDir,
      now: () => NOW,
    });
  const cold = async (table: string, days: string[]) =>
    (await coldRows(store.storage, table, days, '*', table === 'telemetry' ? 'ping_id' : 'id'))
      .rows;

  it('removes the erased users and their devices from every cold day, leaving every other row as it was', async () => {
    const telemetryBefore = await cold('telemetry', DAYS);
    const generationsBefore = await cold('generations', DAYS);
    const quietBefore = await objectsUnder(store.storage, 'cold/telemetry/dt=2026-11-23/');
    // A device of a user not erased, named for the erasure (a shared device): its rows go too.
    const ann = await recordHotDoneErasure(database.db, 'ann', ['ann-d0', 'bob-d1']);
    const check = (everyFile: boolean) =>
      checkColdErased({
        storage: store.storage,
        duckdb: { memoryLimit: '128MB', threads: 1 },
        cacheDir: path.join(workDir, 'verify-cache'),
        days: ['telemetry', 'generations'].flatMap((table) =>
          [...DAYS, QUIET_DAY].map((day) => ({ table, day })),
        ),
        userIds: ['ann'],
        deviceIds: ['bob-d1'],
        everyFile,
      });
    // Before: every day of both tables holds ann (or bob's device); after: nowhere.
    expect((await check(false)).map((l) => `${l.table} ${l.day}`).sort()).toEqual(
      ['generations', 'telemetry'].flatMap((t) => DAYS.map((d) => `${t} ${d}`)),
    );
    const cat = await recordHotDoneErasure(database.db, 'cat');
    // `lowburn users erase --verify`'s check of the cold files (the days `export_runs` knows).
    const verifyCold = async () => {
      const erasure = await findErasure(database.db, ann);
      if (!erasure) throw new Error('no erasure');
      return coldFilesCheck({
        storage: store.storage,
        duckdb: { memoryLimit: '128MB', threads: 1 },
        cacheDir: path.join(workDir, 'verify-cache'),
      }).run({ db: database.db } as VerifyContext, { ...erasure, subjectUserId: 'ann' });
    };
    const waiting = await verifyCold();
    expect(waiting).toHaveLength(DAYS.length * 2);
    expect(waiting.every((r) => r.rows > 0 && r.note?.includes('apply-erasures'))).toBe(true);

    const result = await apply();

    // Two erasures, one rewrite per file that held either: each day has one file per table.
    expect(result).toMatchObject({ erasures: 2, finished: 2, waitingForExport: [] });
    expect(result.filesRewritten).toBe(DAYS.length * 2);
    const rewrites = await database.db.selectFrom('erasure_files').selectAll().execute();
    expect(rewrites).toHaveLength(DAYS.length * 2);
    expect(rewrites.every((r) => r.state === 'deleted' && r.new_key.endsWith('-r1.parquet'))).toBe(
      true,
    );

    const erased = (r: Record<string, unknown>) =>
      r.user_id === 'ann' ||
      r.user_id === 'cat' ||
      r.device_id === 'ann-d0' ||
      r.device_id === 'bob-d1';
    const telemetryAfter = await cold('telemetry', DAYS);
    expect(telemetryAfter.filter(erased)).toEqual([]);
    expect(telemetryAfter).toEqual(telemetryBefore.filter((r) => !erased(r)));
    // Rows without a user id on a device the erasure did not name are not the user's to erase.
    expect(telemetryAfter.some((r) => r.device_id === 'cat-d0' && r.user_id === null)).toBe(true);
    const generationsAfter = await cold('generations', DAYS);
    expect(generationsAfter.filter(erased)).toEqual([]);
    expect(generationsAfter).toEqual(generationsBefore.filter((r) => !erased(r)));
    expect(result.rowsRemoved).toBe(
      telemetryBefore.length -
        telemetryAfter.length +
        generationsBefore.length -
        generationsAfter.length,
    );

    // Only the new files remain, and the manifest records the erasure without naming anyone.
    for (const table of ['telemetry', 'generations']) {
      for (const day of DAYS) {
        const manifest = await readManifest(store.storage, table, day);
        const keys = [
          ...(await objectsUnder(store.storage, coldLayout.dayPrefix(table, day))).keys(),
        ];
        expect(keys.sort()).toEqual(
          [...(manifest?.files.map((f) => f.key) ?? []), coldLayout.manifestKey(table, day)].sort(),
        );
        expect(manifest?.erasures).toEqual([
          expect.objectContaining({ userHashes: ['hash-of-nna', 'hash-of-tac'] }),
        ]);
        expect(JSON.stringify(manifest)).not.toMatch(/"(ann|cat)"/);
      }
    }
    // The quiet day: never read, never rewritten — the same objects.
    expect(await objectsUnder(store.storage, 'cold/telemetry/dt=2026-11-23/')).toEqual(quietBefore);
    expect(result.days.map((d) => d.day)).not.toContain(QUIET_DAY);

    expect(await check(true)).toEqual([]);
    expect(await verifyCold()).toEqual([]);

    const ledger = await database.db
      .selectFrom('erasures')
      .selectAll()
      .where('id', 'in', [ann, cat])
      .orderBy('user_hash')
      .execute();
    expect(ledger.map((e) => [e.status, e.user_id, e.cold_done_at !== null])).toEqual([
      ['done', null, true],
      ['done', null, true],
    ]);
    const annRows = telemetryBefore.filter(
      (r) => r.user_id === 'ann' || r.device_id === 'ann-d0' || r.device_id === 'bob-d1',
    ).length;
    expect(ledger[0]?.counts).toMatchObject({
      cold: { rows: { telemetry: annRows, generations: 40 * DAYS.length }, files: DAYS.length * 2 },
    });
  });

  it('reads nothing and rewrites nothing when no erasure is pending', async () => {
    const before = await objectsUnder(store.storage, 'cold/');
    const result = await apply();
    expect(result).toMatchObject({ erasures: 0, finished: 0, filesScanned: 0, filesRewritten: 0 });
    expect(await objectsUnder(store.storage, 'cold/')).toEqual(before);
  });

  it('rewrites a file a second time for a later erasure, under a new key', async () => {
    await recordHotDoneErasure(database.db, 'dan');
    const result = await apply();
    expect(result.filesRewritten).toBe(DAYS.length * 2);
    const manifest = await readManifest(store.storage, 'telemetry', DAYS[0] as string);
    expect(manifest?.files.map((f) => path.basename(f.key))).toEqual(['part-00000-r2.parquet']);
    expect(manifest?.erasures).toHaveLength(2);
    const left = await sql<{ n: string }>`
      SELECT count(*) AS n FROM erasures WHERE status <> 'done'`.execute(database.db);
    expect(Number(left.rows[0]?.n)).toBe(0);
  });
  it('waits for the cold store: refuses while an export holds the write lock, and runs after', async () => {
    const lock = await takeColdWriteLock(async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      return client;
    }, 'a test export');
    expect(lock).toBeDefined();
    try {
      await expect(apply()).rejects.toBeInstanceOf(ColdStoreBusyError);
      // The refused run left nothing half done: no erasure moved, no file written.
      expect(
        await database.db
          .selectFrom('erasure_files')
          .select('state')
          .where('state', '<>', 'deleted')
          .execute(),
      ).toEqual([]);
    } finally {
      await lock?.release();
    }
    await expect(apply()).resolves.toMatchObject({ erasures: 0 });
  });
});
