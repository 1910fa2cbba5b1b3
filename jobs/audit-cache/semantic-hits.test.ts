import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStorage } from '../../shared/storage/file-storage.ts';
import { testExportOptions } from '../../test/fixtures/cold.ts';
import { type SeedGeneration, seedGenerations } from '../../test/fixtures/generations.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { exportCold } from '../export-cold/export-cold.ts';
import { sampleSemanticHits } from './semantic-hits.ts';

const hit = (id: string, at: string, taskType = 'summary'): SeedGeneration => ({
  id,
  at,
  taskType,
  request: { prompt: `Prompt ${id}` },
  response: `Answer ${id}`,
});

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe("a day's semantic hits, drawn for the audit", () => {
  const database = useTestDatabase();
  let root: string;
  let storage: FileStorage;
  let cacheDir: string;
  // A day already moved to cold Parquet, with late rows still in Postgres, and a hot day.
  const cold = '2026-11-18';
  const hot = '2026-11-19';
  const hotIds = Array.from({ length: 30 }, (_, i) => `hot-${i}`);

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lowburn-audit-objects-'));
    cacheDir = await mkdtemp(path.join(tmpdir(), 'lowburn-audit-cache-'));
    storage = new FileStorage({ root });
    await seedGenerations(database.db, [
      ...Array.from({ length: 6 }, (_, i) => hit(`cold-${i}`, `${cold}T0${i}:00:00Z`)),
      { ...hit('cold-exact', `${cold}T10:00:00Z`), layer: 'exact' },
      { ...hit('cold-model', `${cold}T11:00:00Z`), layer: null },
      { ...hit('cold-failed', `${cold}T12:00:00Z`), status: 'failed' },
    ]);
    await exportCold(
      testExportOptions(database, storage, path.join(cacheDir, 'work'), {
        tables: ['generations'],
        now: () => new Date('2026-11-20T00:30:00Z'),
      }),
    );
    await seedGenerations(
      database.db,
      [hit('late-0', `${cold}T20:00:00Z`), hit('late-1', `${cold}T21:00:00Z`, 'qa')],
      'generations_late',
    );
    await seedGenerations(
      database.db,
      hotIds.map((id, i) =>
        hit(id, `${hot}T12:${String(i).padStart(2, '0')}:00Z`, i % 3 ? 'summary' : 'qa'),
      ),
    );
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  });

  const draw = (day: string, rate: number, max: number) =>
    sampleSemanticHits({
      databaseUrl: database.url,
      storage,
      cacheDir,
      duckdb: { memoryLimit: '128MB', threads: 1 },
      day,
      rate,
      max,
    });

  it('reads an exported day from cold Parquet and its late rows from Postgres, semantic hits only', async () => {
    const partitions = await database.db
      .selectFrom('generations')
      .select('id')
      .where('id', 'like', 'cold-%')
      .execute();
    expect(partitions).toEqual([]); // the export dropped the day's partition
    const { hitsByTask, sample } = await draw(cold, 1, 200);
    expect(Object.fromEntries(hitsByTask)).toEqual({ qa: 1, summary: 7 });
    expect(sample.map((h) => h.id).sort()).toEqual([
      'cold-0',
      'cold-1',
      'cold-2',
      'cold-3',
      'cold-4',
      'cold-5',
      'late-0',
      'late-1',
    ]);
    expect(sample.find((h) => h.id === 'cold-3')).toEqual({
      id: 'cold-3',
      taskType: 'summary',
      request: expect.objectContaining({ prompt: 'Prompt cold-3', taskType: 'summary' }),
      response: 'Answer cold-3',
    });
  });

  it('draws the rate rounded up, at most the maximum, the same hits by MD5 of their id every time', async () => {
    const first = await draw(hot, 0.1, 200);
    expect(Object.fromEntries(first.hitsByTask)).toEqual({ qa: 10, summary: 20 });
    const byHash = [...hotIds].sort((a, b) => (md5(a) < md5(b) ? -1 : 1));
    expect(first.sample.map((h) => h.id)).toEqual(byHash.slice(0, 3));
    expect((await draw(hot, 0.1, 200)).sample).toEqual(first.sample);
    expect((await draw(hot, 0.01, 200)).sample).toHaveLength(1); // 0.3 rounds up to one
    expect((await draw(hot, 1, 4)).sample.map((h) => h.id)).toEqual(byHash.slice(0, 4));
  });

  it('finds nothing on a day without generations, or without semantic hits', async () => {
    expect(await draw('2026-11-10', 0.01, 200)).toEqual({ hitsByTask: new Map(), sample: [] });
    await seedGenerations(database.db, [
      { ...hit('x-exact', '2026-11-11T09:00:00Z'), layer: 'exact' },
    ]);
    expect(await draw('2026-11-11', 0.01, 200)).toEqual({ hitsByTask: new Map(), sample: [] });
  });
});
