import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCold } from '../jobs/export-cold/export-cold.ts';
import { NoDataError, openColdQuery, QuerySqlError } from '../shared/duckdb/cold-query.ts';
import { FileStorage } from '../shared/storage/file-storage.ts';
import { seedTelemetry, testExportOptions } from '../test/fixtures/cold.ts';
import { testEnv } from '../test/fixtures/config.ts';
import { useTestDatabase } from '../test/fixtures/postgres.ts';
import { spawnNode } from '../test/fixtures/processes.ts';

describe('DuckDB over hot + cold (lowburn query)', () => {
  const database = useTestDatabase();
  let root: string;
  let storage: FileStorage;
  let cacheDir: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'lowburn-query-objects-'));
    cacheDir = await mkdtemp(path.join(tmpdir(), 'lowburn-query-cache-'));
    storage = new FileStorage({ root });
    // Two exported days (one before a column existed in the table's history) and one hot day.
    await seedTelemetry(database.db, '2026-11-20', 300);
    await seedTelemetry(database.db, '2026-11-21', 200);
    await exportCold(
      testExportOptions(database, storage, path.join(cacheDir, 'work'), {
        rowsPerFile: 150,
        now: () => new Date('2026-11-23T00:30:00Z'),
      }),
    );
    await seedTelemetry(database.db, '2026-11-22', 50);
    // Late pings for an exported day wait in the late table: hot until the next export.
    await seedTelemetry(database.db, '2026-11-21', 7, 9, 'telemetry_late');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  });

  const open = (
    from: string,
    to: string,
    onFetch?: Parameters<typeof openColdQuery>[0]['onFetch'],
  ) =>
    openColdQuery({
      databaseUrl: database.url,
      storage,
      cacheDir,
      duckdb: { memoryLimit: '128MB', threads: 1 },
      from,
      to,
      onFetch,
    });

  it('answers one SQL statement over cold Parquet and hot Postgres rows', async () => {
    const fetched: number[] = [];
    const q = await open('2026-11-20', '2026-11-22', (p) => fetched.push(p.cached));
    try {
      expect(q.sources.find((s) => s.table === 'telemetry')).toEqual({
        table: 'telemetry',
        coldDays: ['2026-11-20', '2026-11-21'],
        coldFiles: 4,
        coldRows: 500,
        hotRows: 57,
      });
      const result = await q.query(`
        SELECT (SELECT count(*) FROM cold.telemetry) AS cold, (SELECT count(*) FROM hot.telemetry) AS hot,
          count(*) AS total, count(DISTINCT ts::DATE) AS days, count(*) FILTER (attrs->>'n' IS NOT NULL) AS with_json
        FROM telemetry`);
      expect(result.rows).toEqual([
        { cold: '500', hot: '57', total: '557', days: '3', with_json: '279' },
      ]);
      expect(result.columns.map((c) => c.name)).toEqual([
        'cold',
        'hot',
        'total',
        'days',
        'with_json',
      ]);
    } finally {
      await q.close();
    }
    // Every file fetched once; the next session reuses the cache.
    expect(fetched.at(-1)).toBe(0);
    const again: number[] = [];
    const q2 = await open('2026-11-20', '2026-11-21', (p) => again.push(p.cached));
    await q2.close();
    expect(again.at(-1)).toBe(4);
  });

  it('fetches only the days in range', async () => {
    const q = await open('2026-11-21', '2026-11-21');
    try {
      expect(q.sources[0]).toMatchObject({ coldDays: ['2026-11-21'], coldRows: 200, hotRows: 7 });
      expect((await q.query('SELECT count(*) AS n FROM telemetry')).rows).toEqual([{ n: '207' }]);
    } finally {
      await q.close();
    }
  });

  it('copies only the hot rows and columns asked for, loads plain tables, and streams in chunks', async () => {
    const q = await openColdQuery({
      databaseUrl: database.url,
      storage,
      cacheDir,
      duckdb: { memoryLimit: '128MB', threads: 1 },
      from: '2026-11-20',
      to: '2026-11-22',
      tables: ['telemetry'],
      hotWhere: { telemetry: "metric = 'metric-1'" },
      hotColumns: { telemetry: ['ping_id', 'ts', 'metric'] },
      plainTables: [{ name: 'export_runs', where: "day = '2026-11-20'" }],
    });
    try {
      // Hot: 13 of the 50 pings of the 22nd and 2 of the 7 late ones; cold is not filtered.
      expect(q.sources[0]).toMatchObject({ coldRows: 500, hotRows: 15 });
      expect((await q.query('SELECT count(*) AS n FROM hot.telemetry')).rows).toEqual([
        { n: '15' },
      ]);
      // Columns left in Postgres read as NULL for hot rows.
      expect(
        (await q.query('SELECT count(metric) AS m, count(device_id) AS d FROM telemetry')).rows,
      ).toEqual([{ m: '515', d: '500' }]);
      expect(
        (await q.query('SELECT table_name, day::VARCHAR AS day FROM export_runs')).rows,
      ).toEqual([{ table_name: 'telemetry', day: '2026-11-20' }]);
      const sizes: number[] = [];
      let sum = 0;
      for await (const chunk of q.stream('SELECT range AS i FROM range(5000)')) {
        sizes.push(chunk.length);
        for (const row of chunk) sum += Number(row.i);
      }
      expect(sizes.length).toBeGreaterThan(1);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(5000);
      expect(sum).toBe((4999 * 5000) / 2);
    } finally {
      await q.close();
    }
  });

  it('says what is wrong with bad SQL and with a range without data', async () => {
    const q = await open('2026-11-20', '2026-11-22');
    try {
      await expect(q.query('SELEC 1')).rejects.toThrow(QuerySqlError);
      await expect(q.query('SELECT nope FROM telemetry')).rejects.toThrow(/nope/);
    } finally {
      await q.close();
    }
    await expect(open('2025-01-01', '2025-01-31')).rejects.toThrow(NoDataError);
    await expect(open('2026-11-22', '2026-11-20')).rejects.toThrow(/after/);
  });

  it('runs as `lowburn query` with table, csv and json output', async () => {
    const env = testEnv({
      DATABASE_URL: database.url,
      STORAGE_URL: `file:${root}`,
      COLD_CACHE_DIR: cacheDir,
    });
    const run = async (args: string[]) => {
      const cli = spawnNode('lowburn query', 'workers/cli.ts', ['query', ...args], env);
      const { code } = await cli.exited;
      return { code, output: cli.output() };
    };
    const sql = 'SELECT metric, count(*) AS n FROM telemetry GROUP BY metric ORDER BY metric';
    const range = ['--from', '2026-11-20', '--to', '2026-11-22'];

    const table = await run([sql, ...range]);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(/^metric\s+n\nmetric-0\s+138\n/);
    expect(table.output).toContain('(4 rows)');

    const csv = await run([sql, ...range, '--format', 'csv']);
    expect(csv.output).toBe('metric,n\nmetric-0,138\nmetric-1,140\nmetric-2,140\nmetric-3,139\n');

    const json = await run([
      'SELECT count(*) AS n FROM cold.telemetry',
      ...range,
      '--format',
      'json',
    ]);
    expect(JSON.parse(json.output)).toEqual([{ n: '500' }]);

    const bad = await run(['SELEC 1', ...range]);
    expect(bad).toMatchObject({
      code: 1,
      output: expect.stringMatching(/^lowburn query: Parser Error: syntax error/),
    });
    const empty = await run(['SELECT 1', '--from', '2020-01-01', '--to', '2020-01-02']);
    expect(empty).toMatchObject({
      code: 1,
      output: expect.stringContaining('no data from 2020-01-01 to 2020-01-02'),
    });
    const wrong = await run(['SELECT 1', '--from', '20-11-2026']);
    expect(wrong.code).toBe(1);
    expect(wrong.output).toContain('expected a UTC day like 2026-11-20');
  });
});
