// npm run bench:export — the cold export end to end (Postgres → zstd Parquet → object storage →
// verified → partition dropped) on 1,000,000 and 5,000,000 telemetry rows, and in the same run
// the two references: the physical floor (COPY … TO STDOUT in binary, read and thrown away) and
// the design card's library path (rows read with pg-cursor and written one by one with
// parquetjs-lite, snappy: it has no zstd).
//
// Every measured path runs in a child process of its own (this file again, with a mode), so its
// peak RSS (getrusage maxrss) is its own and not the seeding's or another path's.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import { exportCold } from '../jobs/export-cold/export-cold.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import { createDb } from '../shared/db/create-db.ts';
import { ensurePartitions, partitionName } from '../shared/db/partitions.ts';
import { createLogger } from '../shared/log/logger.ts';
import { FileStorage } from '../shared/storage/file-storage.ts';
import { benchDatabase, round } from './support.ts';

const SMALL = Number(process.env.BENCH_ROWS_SMALL ?? 1_000_000);
const LARGE = Number(process.env.BENCH_ROWS_LARGE ?? 5_000_000);
const SMALL_DAY = '2026-01-10';
const LARGE_DAY = '2026-01-11';

interface Measured {
  seconds: number;
  peakRssMb: number;
  bytes?: number;
}

const peakRssMb = () => process.resourceUsage().maxRSS / 1024;

/** Child: the real export of one day, with the settings a default install runs with. */
async function runExport(url: string, day: string): Promise<Measured> {
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: url,
    REDIS_URL: 'redis://127.0.0.1:6379',
  });
  const root = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-objects-'));
  const workDir = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-work-'));
  const { db } = createDb({ url, log: createLogger({ level: 'silent' }) });
  const storage = new FileStorage({ root });
  try {
    const started = performance.now();
    const result = await exportCold({
      db,
      databaseUrl: url,
      storage,
      log: createLogger({ level: 'silent' }),
      duckdb: config.cold.duckdb,
      workDir,
      rowsPerFile: config.cold.rowsPerFile,
      hotRetentionMs: config.cold.hotRetentionMs,
      dropGraceMs: 0,
      partitionDaysAhead: 1,
      tables: ['telemetry'],
      day,
    });
    const seconds = (performance.now() - started) / 1000;
    const [dayResult] = result.days;
    if (dayResult?.state !== 'dropped') throw new Error(`export ended in ${dayResult?.state}`);
    let bytes = 0;
    for await (const o of storage.list(`cold/telemetry/dt=${day}/`)) {
      if (o.key.endsWith('.parquet')) bytes += o.size;
    }
    return { seconds, peakRssMb: peakRssMb(), bytes };
  } finally {
    await db.destroy();
    await rm(root, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Child: the floor — Postgres sends the partition in binary and nobody looks at it. */
async function runFloor(url: string, day: string): Promise<Measured> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  const stream = client.query(
    copyTo(`COPY ${partitionName('telemetry', day)} TO STDOUT (FORMAT binary)`),
  );
  for await (const _ of stream);
  const seconds = (performance.now() - started) / 1000;
  await client.end();
  return { seconds, peakRssMb: peakRssMb() };
}

/** Child: the library path — pg-cursor batches, parquetjs-lite `appendRow` per row. */
async function runParquetjs(url: string, day: string): Promise<Measured> {
  const parquet = createRequire(import.meta.url)('parquetjs-lite');
  const schema = new parquet.ParquetSchema({
    ping_id: { type: 'UTF8', compression: 'SNAPPY' },
    device_id: { type: 'UTF8', compression: 'SNAPPY' },
    user_id: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    ts: { type: 'TIMESTAMP_MICROS', compression: 'SNAPPY' },
    metric: { type: 'UTF8', compression: 'SNAPPY' },
    value: { type: 'DOUBLE', compression: 'SNAPPY' },
    attrs: { type: 'JSON', optional: true, compression: 'SNAPPY' },
    received_at: { type: 'TIMESTAMP_MICROS', compression: 'SNAPPY' },
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-parquetjs-'));
  const file = path.join(dir, 'part.parquet');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const started = performance.now();
    const writer = await parquet.ParquetWriter.openFile(schema, file);
    const cursor = client.query(new Cursor(`SELECT * FROM ${partitionName('telemetry', day)}`));
    for (;;) {
      const rows = await cursor.read(10_000);
      if (rows.length === 0) break;
      for (const row of rows) {
        await writer.appendRow({
          ...row,
          user_id: row.user_id ?? undefined,
          attrs: row.attrs ?? undefined,
        });
      }
    }
    await cursor.close();
    await writer.close();
    const seconds = (performance.now() - started) / 1000;
    return { seconds, peakRssMb: peakRssMb(), bytes: (await stat(file)).size };
  } finally {
    await client.end();
    await rm(dir, { recursive: true, force: true });
  }
}

function child(mode: string, url: string, day: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    // As the Docker image runs every process: glibc's per-thread malloc arenas (DuckDB's threads
    // and libuv's pool) otherwise hold ~50 MB more RSS after an export, growing with its size.
    const proc = spawn(process.execPath, [import.meta.filename, mode, url, day], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' },
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => {
      out += c;
    });
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${mode} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Measured);
    });
  });
}

/** A day partition of `rows` telemetry-like rows (about 20 % NULL users, a third with JSON). */
async function seed(url: string, day: string, rows: number): Promise<void> {
  const { db } = createDb({ url, log: createLogger({ level: 'silent' }) });
  try {
    await sql`DELETE FROM export_runs WHERE table_name = 'telemetry' AND day = ${day}`.execute(db);
    await sql`DROP TABLE IF EXISTS ${sql.table(partitionName('telemetry', day))}`.execute(db);
    await ensurePartitions(db, {
      from: new Date(`${day}T00:00:00Z`),
      days: 1,
      tables: ['telemetry'],
    });
    await sql`
      INSERT INTO telemetry (ping_id, device_id, user_id, ts, metric, value, attrs)
      SELECT gen_random_uuid(), 'device-' || (i % 5000),
        CASE WHEN i % 5 = 0 THEN NULL ELSE 'user-' || (i % 2000) END,
        ${day}::timestamptz + make_interval(secs => (i - 1) * 86400.0 / ${rows}),
        (ARRAY['cpu', 'mem', 'temp.c', 'rssi'])[1 + i % 4], round((random() * 100)::numeric, 2)::float8,
        CASE WHEN i % 3 = 0 THEN jsonb_build_object('fw', '1.2.' || (i % 10), 'ok', i % 7 <> 0) END
      FROM generate_series(1, ${rows}) AS i`.execute(db);
    await sql`VACUUM ANALYZE ${sql.table(partitionName('telemetry', day))}`.execute(db);
  } finally {
    await db.destroy();
  }
}

const [mode, url, day] = process.argv.slice(2);
if (mode && url && day) {
  const run = { export: runExport, floor: runFloor, parquetjs: runParquetjs }[mode];
  if (!run) throw new Error(`unknown mode ${mode}`);
  console.log(JSON.stringify(await run(url, day)));
} else {
  const url = await benchDatabase();
  const log = (line: string) => process.stderr.write(`${line}\n`);

  log(`seeding ${SMALL.toLocaleString('en')} rows…`);
  await seed(url, SMALL_DAY, SMALL);
  const floorSmall = await child('floor', url, SMALL_DAY);
  log(`  COPY floor: ${round(floorSmall.seconds)} s`);
  const parquetjs = await child('parquetjs', url, SMALL_DAY);
  log(`  parquetjs-lite: ${round(parquetjs.seconds)} s, ${round(parquetjs.peakRssMb)} MB peak`);
  const small = await child('export', url, SMALL_DAY);
  log(`  export: ${round(small.seconds)} s, ${round(small.peakRssMb)} MB peak`);

  log(`seeding ${LARGE.toLocaleString('en')} rows…`);
  await seed(url, LARGE_DAY, LARGE);
  const floorLarge = await child('floor', url, LARGE_DAY);
  log(`  COPY floor: ${round(floorLarge.seconds)} s`);
  const large = await child('export', url, LARGE_DAY);
  log(`  export: ${round(large.seconds)} s, ${round(large.peakRssMb)} MB peak`);

  console.log(
    JSON.stringify({
      bench: 'export',
      rows: LARGE,
      export_s: round(large.seconds),
      copy_floor_s: round(floorLarge.seconds),
      ratio_vs_copy: round(large.seconds / floorLarge.seconds),
      rows_small: SMALL,
      export_s_small: round(small.seconds),
      copy_floor_s_small: round(floorSmall.seconds),
      ratio_vs_copy_small: round(small.seconds / floorSmall.seconds),
      parquetjs_lite_s: round(parquetjs.seconds),
      speedup_vs_parquetjs_lite: round(parquetjs.seconds / small.seconds),
      peak_rss_mb_1m: round(small.peakRssMb, 0),
      peak_rss_mb_5m: round(large.peakRssMb, 0),
      rss_growth_1m_to_5m: round(large.peakRssMb / small.peakRssMb - 1),
      bytes_per_row: round((large.bytes ?? 0) / LARGE),
      parquetjs_lite_bytes_per_row: round((parquetjs.bytes ?? 0) / SMALL),
    }),
  );
}
