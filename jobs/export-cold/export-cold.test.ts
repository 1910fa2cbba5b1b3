import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { coldLayout, readManifest } from '../../shared/cold/layout.ts';
import { ensurePartitions, listPartitions, partitionName } from '../../shared/db/partitions.ts';
import { createLogger } from '../../shared/log/logger.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';
import {
  coldRows,
  coldTelemetrySelect,
  parseAttrs,
  type StorageKind,
  seedTelemetry,
  telemetryInPostgres,
  testExportOptions,
  useStorage,
} from '../../test/fixtures/cold.ts';
import { useTestDatabase } from '../../test/fixtures/postgres.ts';
import { waitUntil } from '../../test/fixtures/wait-until.ts';
import { type ExportColdOptions, exportCold, HotDayError } from './export-cold.ts';
import type { ExportStep } from './export-day.ts';

const NOW = new Date('2026-11-25T00:30:00Z');
const _log = createLogger({ level: 'silent' });

/** The export, configured for tests: fixed clock, 24 h hot window, small files. */
function exporter(database: ReturnType<typeof useTestDatabase>, storage: () => ObjectStorage) {
  let workDir = '';
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'lowburn-export-'));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });
  return {
    get workDir() {
      return workDir;
    },
    run: (options: Partial<ExportColdOptions> = {}) =>
      exportCold(
        testExportOptions(database, storage(), workDir, {
          partitionDaysAhead: 2,
          now: () => NOW,
          ...options,
        }),
      ),
  };
}

async function runState(database: ReturnType<typeof useTestDatabase>, table: string, day: string) {
  return database.db
    .selectFrom('export_runs')
    .selectAll()
    .where('table_name', '=', table)
    .where('day', '=', day)
    .executeTakeFirst();
}

async function objectKeys(storage: ObjectStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list(prefix)) keys.push(o.key);
  return keys;
}

describe.each<StorageKind>(['file', 's3'])('export-cold with %s storage', (kind) => {
  const database = useTestDatabase();
  const store = useStorage(kind);
  const exp = exporter(database, () => store.storage);

  it('moves a day to Parquet value for value, verifies it, then drops the partition', async () => {
    const day = '2026-11-20';
    await seedTelemetry(database.db, day, 2_500);
    const before = await telemetryInPostgres(database.db, day);

    const result = await exp.run({ rowsPerFile: 1_000 });

    expect(result.days).toEqual([
      expect.objectContaining({ table: 'telemetry', day, state: 'dropped', rows: 2_500, files: 3 }),
    ]);
    expect((await listPartitions(database.db, 'telemetry')).map((p) => p.day)).not.toContain(day);
    const manifest = await readManifest(store.storage, 'telemetry', day);
    expect(manifest).toMatchObject({
      format: 'lowburn.cold.v1',
      table: 'telemetry',
      day,
      rows: 2_500,
      files: [
        {
          key: 'cold/telemetry/dt=2026-11-20/part-00000.parquet',
          rows: 1_000,
          source: 'partition',
        },
        { key: 'cold/telemetry/dt=2026-11-20/part-00001.parquet', rows: 1_000 },
        { key: 'cold/telemetry/dt=2026-11-20/part-00002.parquet', rows: 500 },
      ],
    });
    expect(manifest?.columns.map((c) => [c.name, c.type])).toEqual([
      ['ping_id', 'UUID'],
      ['device_id', 'VARCHAR'],
      ['user_id', 'VARCHAR'],
      ['ts', 'TIMESTAMPTZ'],
      ['metric', 'VARCHAR'],
      ['value', 'DOUBLE'],
      ['attrs', 'JSON'],
      ['received_at', 'TIMESTAMPTZ'],
    ]);
    for (const file of manifest?.files ?? []) {
      expect(await store.storage.head(file.key)).toMatchObject({
        size: file.bytes,
        sha256: file.sha256,
      });
    }

    const cold = await coldRows(store.storage, 'telemetry', day, coldTelemetrySelect, 'ping_id');
    expect(cold.types).toMatchObject({
      ping_id: 'UUID',
      ts: 'TIMESTAMP WITH TIME ZONE',
      attrs: 'JSON',
      user_id: 'VARCHAR',
    });
    expect(parseAttrs(cold.rows)).toEqual(before);
    // The awkward values really were there: NULLs, empty strings, newlines and quotes.
    expect(before.some((r) => r.user_id === null)).toBe(true);
    expect(before.some((r) => r.device_id === '')).toBe(true);
    expect(before.some((r) => String(r.device_id).includes('"\n'))).toBe(true);

    const state = await runState(database, 'telemetry', day);
    expect(state).toMatchObject({ state: 'dropped', rows: '2500', attempts: 1 });
    expect(state?.finished_at).toBeInstanceOf(Date);
  });

  it('does nothing on a rerun of a finished day', async () => {
    const day = '2026-11-19';
    await seedTelemetry(database.db, day, 300);
    await exp.run();
    const prefix = coldLayout.dayPrefix('telemetry', day);
    const objects = async () => {
      const out: { key: string; lastModified: number; sha256?: string }[] = [];
      for await (const o of store.storage.list(prefix)) {
        out.push({ key: o.key, lastModified: o.lastModified.getTime(), sha256: o.sha256 });
      }
      return out;
    };
    const first = await objects();
    const run = await runState(database, 'telemetry', day);

    const again = await exp.run({ day });
    expect(again.days).toEqual([expect.objectContaining({ day, state: 'dropped', lateRows: 0 })]);
    expect(await objects()).toEqual(first);
    expect(await runState(database, 'telemetry', day)).toEqual(run);
  });

  it('exports an empty day as a manifest with no files', async () => {
    const day = '2026-11-18';
    await ensurePartitions(database.db, {
      from: new Date(`${day}T00:00:00Z`),
      days: 1,
      tables: ['telemetry'],
    });
    const result = await exp.run({ day });
    expect(result.days).toEqual([
      expect.objectContaining({ day, state: 'dropped', rows: 0, files: 0 }),
    ]);
    expect(await readManifest(store.storage, 'telemetry', day)).toMatchObject({
      rows: 0,
      files: [],
    });
    expect((await listPartitions(database.db, 'telemetry')).map((p) => p.day)).not.toContain(day);
  });

  it('refuses a day that is still hot', async () => {
    await expect(exp.run({ day: '2026-11-24' })).rejects.toThrow(HotDayError);
    await expect(exp.run({ day: '2026-11-24' })).rejects.toThrow(/still hot.*2026-11-26T00:00:00/);
  });
});

describe('export-cold crash safety', () => {
  const database = useTestDatabase();
  const store = useStorage('file');
  const exp = exporter(database, () => store.storage);
  let dayIndex = 0;
  let day = '';
  beforeEach(() => {
    dayIndex++;
    day = `2026-10-${String(dayIndex).padStart(2, '0')}`;
  });

  const crashAt = (at: ExportStep) => (step: ExportStep) => {
    if (step === at) throw new Error(`crash after ${step}`);
  };

  async function expectExactlyOnce(expected: Record<string, unknown>[]) {
    const cold = await coldRows(store.storage, 'telemetry', day, coldTelemetrySelect, 'ping_id');
    expect(parseAttrs(cold.rows)).toEqual(expected);
    expect(await telemetryInPostgres(database.db, day)).toEqual([]);
    expect(await runState(database, 'telemetry', day)).toMatchObject({ state: 'dropped' });
  }

  it.each<ExportStep>(['claimed', 'written', 'uploaded', 'verified', 'dropping', 'dropped'])(
    'ends with every row exactly once after a crash after "%s" and a rerun',
    async (step) => {
      await seedTelemetry(database.db, day, 1_500);
      const before = await telemetryInPostgres(database.db, day);

      await expect(exp.run({ day, rowsPerFile: 1_000, afterStep: crashAt(step) })).rejects.toThrow(
        `crash after ${step}`,
      );
      if (step === 'dropping') {
        // The crash came inside the drop's transaction: the partition is still there, detached
        // from the table (the step before the drop), every row in it.
        const partition = sql.table(partitionName('telemetry', day));
        const kept = await sql<{ n: string }>`SELECT count(*) AS n FROM ${partition}`.execute(
          database.db,
        );
        expect(Number(kept.rows[0]?.n)).toBe(1_500);
        expect(await runState(database, 'telemetry', day)).toMatchObject({ state: 'verified' });
      }
      await exp.run({ day, rowsPerFile: 1_000 });

      await expectExactlyOnce(before);
      const keys = await objectKeys(store.storage, coldLayout.dayPrefix('telemetry', day));
      expect(keys).toEqual([
        `cold/telemetry/dt=${day}/_manifest.json`,
        `cold/telemetry/dt=${day}/part-00000.parquet`,
        `cold/telemetry/dt=${day}/part-00001.parquet`,
      ]);
    },
  );

  it('writes the day again when the local files were lost with the machine', async () => {
    await seedTelemetry(database.db, day, 400);
    const before = await telemetryInPostgres(database.db, day);
    await expect(exp.run({ day, afterStep: crashAt('written') })).rejects.toThrow();
    await rm(path.join(exp.workDir, 'telemetry', day), { recursive: true, force: true });
    await exp.run({ day });
    await expectExactlyOnce(before);
    expect(await runState(database, 'telemetry', day)).toMatchObject({ attempts: 2 });
  });

  it('never drops a partition whose upload does not read back right', async () => {
    await seedTelemetry(database.db, day, 400);
    const before = await telemetryInPostgres(database.db, day);
    await expect(exp.run({ day, afterStep: crashAt('uploaded') })).rejects.toThrow();
    // Bit rot in the bucket: the object's bytes change after the upload.
    const key = coldLayout.partKey('telemetry', day, 0);
    const root = (store.storage as unknown as { root: string }).root;
    await writeFile(path.join(root, key), 'not parquet at all');

    await expect(exp.run({ day })).rejects.toThrow(/differs from what was written/);
    expect(await telemetryInPostgres(database.db, day)).toHaveLength(400);
    expect(await runState(database, 'telemetry', day)).toMatchObject({
      state: 'pending',
      error: expect.stringContaining('differs'),
    });
    await exp.run({ day });
    await expectExactlyOnce(before);
  });

  it('drops a partition while a long read of the table runs, without holding up its writers', async () => {
    await seedTelemetry(database.db, day, 200);
    await exp.run({ day, dropGraceMs: 3600_000 });
    // A read of today's rows still running (the hourly rollup reads the day in progress): it
    // holds the table, and today's partition alone, until its transaction ends.
    const reader = await database.db.connection().execute(async (conn) => {
      await sql`BEGIN`.execute(conn);
      await sql`SELECT count(*) FROM telemetry WHERE ts >= '2026-11-25T00:00:00Z'`.execute(conn);
      const later = exp.run({
        day,
        dropGraceMs: 3600_000,
        now: () => new Date('2026-11-25T01:31:00Z'),
      });
      // Meanwhile a flush writes today's pings through the table: it must not queue behind
      // the drop (DROP TABLE on an attached partition waits for the reader with an ACCESS
      // EXCLUSIVE lock on the table, and every insert waits behind it).
      // Once the drop waits for the reader… (Today's partition exists: the first run made the
      // days ahead.)
      await waitUntil(
        async () => {
          const { rows } = await sql<{ n: string }>`
          SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(database.db);
          return Number(rows[0]?.n) > 0;
        },
        10_000,
        'the drop waiting for the reader',
      );
      const started = performance.now();
      await seedTelemetry(database.db, '2026-11-25', 10);
      const insertMs = performance.now() - started;
      await sql`COMMIT`.execute(conn);
      return { later: await later, insertMs };
    });
    expect(reader.insertMs).toBeLessThan(5_000);
    expect(reader.later.days).toEqual([expect.objectContaining({ state: 'dropped', rows: 200 })]);
    expect(await listPartitions(database.db, 'telemetry')).not.toContainEqual(
      expect.objectContaining({ day }),
    );
  });

  it('keeps a verified partition for the grace period, then drops it', async () => {
    await seedTelemetry(database.db, day, 200);
    const kept = await exp.run({ day, dropGraceMs: 3600_000 });
    expect(kept.days).toEqual([
      expect.objectContaining({ state: 'verified', dropAfter: '2026-11-25T01:30:00.000Z' }),
    ]);
    expect(await telemetryInPostgres(database.db, day)).toHaveLength(200);
    const later = await exp.run({
      day,
      dropGraceMs: 3600_000,
      now: () => new Date('2026-11-25T01:31:00Z'),
    });
    expect(later.days).toEqual([expect.objectContaining({ state: 'dropped', rows: 200 })]);
  });
});

describe('export-cold late rows and schema changes', () => {
  const database = useTestDatabase();
  const store = useStorage('s3');
  const exp = exporter(database, () => store.storage);

  it('exports rows that arrive after the day was exported as an additional part', async () => {
    const day = '2026-11-10';
    await seedTelemetry(database.db, day, 500);
    const first = await telemetryInPostgres(database.db, day);
    await exp.run({ day });

    // Late pings for the exported day go to the late table; the partition stays dropped.
    await seedTelemetry(database.db, day, 40, 1, 'telemetry_late');
    const late = await telemetryInPostgres(database.db, day, 'telemetry_late');
    expect(
      await ensurePartitions(database.db, { from: new Date(`${day}T00:00:00Z`), days: 1 }),
    ).toEqual(['generations_p20261110']);

    const result = await exp.run();
    expect(result.days).toEqual([
      expect.objectContaining({ day, state: 'dropped', rows: 540, files: 2, lateRows: 40 }),
    ]);
    const manifest = await readManifest(store.storage, 'telemetry', day);
    expect(manifest?.files.map((f) => [f.key, f.rows, f.source])).toEqual([
      [`cold/telemetry/dt=${day}/part-00000.parquet`, 500, 'partition'],
      [`cold/telemetry/dt=${day}/part-00001.parquet`, 40, 'late'],
    ]);
    expect(manifest?.rows).toBe(540);
    const cold = await coldRows(store.storage, 'telemetry', day, coldTelemetrySelect, 'ping_id');
    const expected = [...first, ...late].sort((a, b) =>
      String(a.ping_id).localeCompare(String(b.ping_id)),
    );
    expect(parseAttrs(cold.rows)).toEqual(expected);
    expect(await telemetryInPostgres(database.db, day, 'telemetry_late')).toEqual([]);
  });

  it.each<ExportStep>(['late-uploaded', 'late-committed'])(
    'loses and duplicates no late row after a crash after "%s"',
    async (step) => {
      const day = step === 'late-uploaded' ? '2026-11-11' : '2026-11-12';
      await seedTelemetry(database.db, day, 100);
      const first = await telemetryInPostgres(database.db, day);
      await exp.run({ day });
      await seedTelemetry(database.db, day, 30, 2, 'telemetry_late');
      const late = await telemetryInPostgres(database.db, day, 'telemetry_late');

      await expect(
        exp.run({
          day,
          afterStep: (s) => {
            if (s === step) throw new Error('crash');
          },
        }),
      ).rejects.toThrow('crash');
      await exp.run({ day });

      const manifest = await readManifest(store.storage, 'telemetry', day);
      expect(manifest?.files.map((f) => f.rows)).toEqual([100, 30]);
      const cold = await coldRows(store.storage, 'telemetry', day, coldTelemetrySelect, 'ping_id');
      expect(parseAttrs(cold.rows)).toEqual(
        [...first, ...late].sort((a, b) => String(a.ping_id).localeCompare(String(b.ping_id))),
      );
      expect(await telemetryInPostgres(database.db, day, 'telemetry_late')).toEqual([]);
    },
  );

  it('carries a column added between two days, readable across both with union_by_name', async () => {
    await seedTelemetry(database.db, '2026-11-13', 50);
    await exp.run({ day: '2026-11-13' });
    await sql`ALTER TABLE telemetry ADD COLUMN firmware text`.execute(database.db);
    try {
      await seedTelemetry(database.db, '2026-11-14', 50);
      await sql`UPDATE telemetry SET firmware = 'v' || value WHERE ts >= '2026-11-14' AND ts < '2026-11-15'`.execute(
        database.db,
      );
      await exp.run({ day: '2026-11-14' });

      const m13 = await readManifest(store.storage, 'telemetry', '2026-11-13');
      const m14 = await readManifest(store.storage, 'telemetry', '2026-11-14');
      expect(m13?.columns.map((c) => c.name)).not.toContain('firmware');
      expect(m14?.columns.at(-1)).toEqual({
        name: 'firmware',
        type: 'VARCHAR',
        postgresType: 'text',
      });

      const both = await coldRows(
        store.storage,
        'telemetry',
        ['2026-11-13', '2026-11-14'],
        'ts::DATE::VARCHAR AS day, count(*) AS n, count(firmware) AS f',
        'day',
        'day',
      );
      // union_by_name fills the column the older file lacks with NULLs.
      expect(both.rows).toEqual([
        { day: '2026-11-13', n: '50', f: '0' },
        { day: '2026-11-14', n: '50', f: '50' },
      ]);
    } finally {
      await sql`ALTER TABLE telemetry DROP COLUMN firmware`.execute(database.db);
    }
  });

  it('exports generations with numerics, JSON and text as they are', async () => {
    const day = '2026-11-15';
    await ensurePartitions(database.db, {
      from: new Date(`${day}T00:00:00Z`),
      days: 1,
      tables: ['generations'],
    });
    await sql`
      INSERT INTO generations (id, created_at, user_id, task_type, prompt, prompt_hash, request,
        response, status, cache_layer, route, model, tokens_in, tokens_out, cost_usd, latency_ms,
        error, metadata)
      SELECT 'generate.' || i, ${day}::timestamptz + make_interval(mins => i), 'u' || i, 'summary',
        E'Summarise:\n"quoted", commas, and ünïcode ' || i, md5(i::text),
        jsonb_build_object('prompt', 'p' || i), CASE WHEN i = 2 THEN NULL ELSE 'answer ' || i END,
        CASE WHEN i = 2 THEN 'failed' ELSE 'completed' END,
        CASE WHEN i = 1 THEN 'exact' END, CASE WHEN i = 3 THEN 'frontier' END, 'llama3.2:3b',
        i * 10, i * 20, (i * 0.00012345)::numeric(14, 8), i, CASE WHEN i = 2 THEN 'boom' END,
        CASE WHEN i = 3 THEN '{"tenant": "a", "tags": [1, 2]}'::jsonb END
      FROM generate_series(1, 3) AS i`.execute(database.db);
    const pg = await sql<Record<string, unknown>>`
      SELECT id, prompt, response, cost_usd::text AS cost, metadata, tokens_in
      FROM generations ORDER BY id`.execute(database.db);

    const result = await exp.run({ day, tables: ['generations'] });
    expect(result.days).toEqual([expect.objectContaining({ state: 'dropped', rows: 3 })]);
    const cold = await coldRows(
      store.storage,
      'generations',
      day,
      `id, prompt, response, cost_usd::VARCHAR AS cost, metadata::VARCHAR AS metadata, tokens_in`,
      'id',
    );
    expect(cold.types).toMatchObject({
      cost_usd: 'DECIMAL(14,8)',
      metadata: 'JSON',
      request: 'JSON',
    });
    expect(
      cold.rows.map((r) => ({
        ...r,
        metadata: r.metadata === null ? null : JSON.parse(String(r.metadata)),
      })),
    ).toEqual(pg.rows);
  });
});

describe('export-cold with a day it cannot export', () => {
  const database = useTestDatabase();
  const store = useStorage('file');
  const exp = exporter(database, () => store.storage);

  it('exports the days after it, keeps the day in Postgres, and fails naming it', async () => {
    const [stuck, next] = ['2026-11-01', '2026-11-02'];
    await seedTelemetry(database.db, stuck, 10);
    // One row DuckDB refuses: over its 2 MiB of CSV per line.
    await sql`
      INSERT INTO telemetry (ping_id, device_id, ts, metric, value, attrs)
      VALUES (gen_random_uuid(), 'device-big', ${stuck}::timestamptz + interval '1 hour', 'm', 1,
        jsonb_build_object('blob', repeat('x', 3 * 1024 * 1024)))`.execute(database.db);
    await seedTelemetry(database.db, next, 10);

    await expect(exp.run({ tables: ['telemetry'] })).rejects.toThrow(
      /1 day\(s\) failed and stay in Postgres .*telemetry 2026-11-01: .*the other days were exported/,
    );
    expect(await runState(database, 'telemetry', next)).toMatchObject({ state: 'dropped' });
    expect(await telemetryInPostgres(database.db, next)).toEqual([]);
    expect(await telemetryInPostgres(database.db, stuck)).toHaveLength(11);
    expect(await runState(database, 'telemetry', stuck)).not.toMatchObject({ state: 'dropped' });
  });
});

describe('export-cold, one run at a time', () => {
  const database = useTestDatabase();
  const store = useStorage('file');
  const exp = exporter(database, () => store.storage);

  it('skips while another run holds the lock, and the lock is free once that run ends', async () => {
    const [first, second] = ['2026-11-10', '2026-11-11'];
    await seedTelemetry(database.db, first, 10);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let claimed = () => {};
    const claimedOnce = new Promise<void>((resolve) => {
      claimed = resolve;
    });
    const running = exp.run({
      tables: ['telemetry'],
      afterStep: async (step) => {
        if (step !== 'claimed') return;
        claimed();
        await held;
      },
    });
    await claimedOnce;

    // The lock is a transaction lock on a connection of the run's own (pooler-safe).
    const holders = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objid = ${0x6c620e11}
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(
      database.db,
    );
    expect(holders.rows[0]?.n).toBe(1);
    expect(await exp.run({ tables: ['telemetry'] })).toEqual({ ran: false, days: [] });

    release();
    expect((await running).days).toEqual([
      expect.objectContaining({ table: 'telemetry', day: first, state: 'dropped' }),
    ]);
    // Released with the run: the next one runs (through a pooler too, where a session lock
    // would have stayed on a pooled server connection).
    await seedTelemetry(database.db, second, 10);
    const next = await exp.run({ tables: ['telemetry'] });
    expect(next.ran).toBe(true);
    expect(next.days).toEqual([expect.objectContaining({ day: second, state: 'dropped' })]);
  });
});
