// npm run bench:erase — `apply-erasures` on 30 days of cold telemetry and generations: 100 users
// erased in one batch (each affected Parquet file rewritten once, files chosen by their user
// index), against the reference of rewriting every file once per erased user (no index, no
// batching), in the same run, on a copy of the same cold store.
//
// Scaled down from 10,000 users a day (the machine is shared and small): BENCH_ERASE_USERS
// users a day (default 1,000), BENCH_ERASE_ROWS telemetry and generations rows per user and day
// (default 4). The 100 erased users are a churned cohort active on the first 10 days only, so
// the files of the other 20 days hold none of them. The reference is measured on
// BENCH_ERASE_REFERENCE_USERS users (default 3) and scaled to 100 (its cost is linear in users:
// every file, once per user).

import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { applyErasures } from '../jobs/apply-erasures/apply-erasures.ts';
import { exportCold } from '../jobs/export-cold/export-cold.ts';
import { type ManifestFile, readManifest } from '../shared/cold/layout.ts';
import { createDb } from '../shared/db/create-db.ts';
import { utcDay } from '../shared/db/partitions.ts';
import { openDuckDb, quoteLiteral } from '../shared/duckdb/duckdb.ts';
import { createLogger } from '../shared/log/logger.ts';
import { FileStorage } from '../shared/storage/file-storage.ts';
import type { ObjectStorage } from '../shared/storage/storage.ts';
import { recordHotDoneErasure, seedUserDay } from '../test/fixtures/erasure-cold.ts';
import { ADMIN_DATABASE_URL, round } from './support.ts';

const USERS = Number(process.env.BENCH_ERASE_USERS ?? 1_000);
const ROWS = Number(process.env.BENCH_ERASE_ROWS ?? 4);
const REFERENCE_USERS = Number(process.env.BENCH_ERASE_REFERENCE_USERS ?? 3);
const ERASED = 100;
const DAYS = 30;
const FIRST_DAY = '2026-01-01';
const TABLES = ['telemetry', 'generations'] as const;
const log = createLogger({ level: 'silent' });
const duckdb = { memoryLimit: '128MB', threads: 1 };

/**
 * A database of this run's own. Created, never dropped by a statement that could wait forever:
 * `DROP DATABASE … WITH (FORCE)` waits for every backend of the server to acknowledge it, so the
 * drop at the end runs under a statement timeout and only warns when it expires.
 */
async function freshDatabase(): Promise<string> {
  const name = `lowburn_bench_erase_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`SET statement_timeout = '30s'`);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } catch (error) {
    console.error(`could not drop ${name} (${String(error)}); drop it by hand`);
  } finally {
    await admin.end();
  }
}

async function allFiles(storage: ObjectStorage): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  for (const table of TABLES) {
    for (let d = 0; d < DAYS; d++) {
      const manifest = await readManifest(storage, table, utcDay(new Date(FIRST_DAY), d));
      files.push(...(manifest?.files ?? []));
    }
  }
  return files;
}

/** The reference: for each user, every file fetched, rewritten without them, put back. */
async function referenceRewrite(root: string, users: string[], workDir: string): Promise<void> {
  const storage = new FileStorage({ root });
  await mkdir(workDir, { recursive: true });
  const { connection: duck, close } = await openDuckDb({ ...duckdb, tempDirectory: workDir });
  try {
    let n = 0;
    for (const user of users) {
      for (const file of await allFiles(storage)) {
        // Names of their own: DuckDB caches what it read of a path.
        n++;
        const local = path.join(workDir, `in-${n}.parquet`);
        const out = path.join(workDir, `out-${n}.parquet`);
        await cp(path.join(root, file.key), local);
        await duck.run(
          `COPY (SELECT * FROM read_parquet(${quoteLiteral(local)}) WHERE user_id IS DISTINCT FROM ${quoteLiteral(user)})
           TO ${quoteLiteral(out)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 32768)`,
        );
        await storage.put(file.key, { file: out });
        await rm(local, { force: true });
        await rm(out, { force: true });
      }
    }
  } finally {
    close();
    await storage.close();
  }
}

async function rowsLeft(storage: FileStorage, users: string[], workDir: string): Promise<number> {
  const { connection: duck, close } = await openDuckDb({ ...duckdb, tempDirectory: workDir });
  try {
    const files = await allFiles(storage);
    const paths = files.map((f) => quoteLiteral(path.join(storage.root, f.key)));
    const reader = await duck.runAndReadAll(
      `SELECT count(*) FROM read_parquet([${paths.join(', ')}], union_by_name = true)
       WHERE user_id IN (${users.map(quoteLiteral).join(', ')})`,
    );
    return Number(reader.getRows()[0]?.[0]);
  } finally {
    close();
  }
}

async function main(): Promise<void> {
  const url = await freshDatabase();
  const { migrateUp } = await import('../shared/db/migrate.ts');
  const { db } = createDb({ url, log });
  await migrateUp(db);
  const scratch = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-erase-'));
  const batchRoot = path.join(scratch, 'batch');
  const referenceRoot = path.join(scratch, 'reference');
  const storage = new FileStorage({ root: batchRoot });
  try {
    const churned = Array.from({ length: ERASED }, (_, i) => `churned-${i}`);
    const regulars = Array.from({ length: USERS - ERASED }, (_, i) => `user-${i}`);
    for (let d = 0; d < DAYS; d++) {
      const day = utcDay(new Date(FIRST_DAY), d);
      await seedUserDay(db, day, d < 10 ? [...regulars, ...churned] : regulars, ROWS);
    }
    await exportCold({
      db,
      databaseUrl: url,
      storage,
      log,
      duckdb,
      workDir: path.join(scratch, 'export'),
      rowsPerFile: Math.max(1_000, Math.ceil((USERS * ROWS) / 4)),
      hotRetentionMs: 24 * 3600_000,
      dropGraceMs: 0,
      partitionDaysAhead: 1,
      tables: [...TABLES],
      now: () => new Date(`${utcDay(new Date(FIRST_DAY), DAYS + 2)}T00:30:00Z`),
    });
    await cp(batchRoot, referenceRoot, { recursive: true });
    const files = await allFiles(storage);
    const before = new Map(files.map((f) => [f.key, f.sha256]));
    for (const user of churned) await recordHotDoneErasure(db, user);

    const load = (await import('node:os')).loadavg()[0] ?? 0;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const result = await applyErasures({
      db,
      databaseUrl: url,
      storage,
      log,
      duckdb,
      workDir: path.join(scratch, 'erase'),
    });
    const rewriteS = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const after = await allFiles(storage);
    const untouched = after.filter((f) => before.get(f.key) === f.sha256).length;
    const quietDays = Array.from({ length: DAYS - 10 }, (_, d) =>
      utcDay(new Date(FIRST_DAY), d + 10),
    );
    const quiet = files.filter((f) => quietDays.some((day) => f.key.includes(`dt=${day}/`)));
    const withoutErased = quiet.length;
    const quietUntouched = quiet.filter((f) =>
      after.some((a) => a.key === f.key && a.sha256 === f.sha256),
    ).length;
    const left = await rowsLeft(storage, churned, scratch);

    const referenceStarted = performance.now();
    await referenceRewrite(
      referenceRoot,
      churned.slice(0, REFERENCE_USERS),
      path.join(scratch, 'ref'),
    );
    const referenceMeasured = (performance.now() - referenceStarted) / 1000;
    const perUserReferenceS = (referenceMeasured / REFERENCE_USERS) * ERASED;
    const rows = await sql<{
      n: string;
    }>`SELECT count(*) AS n FROM erasures WHERE status = 'done'`.execute(db);

    console.error(
      `scaled down: ${USERS} users a day (not 10,000), ${ROWS} rows of each table per user and day, ${DAYS} days, ${files.length} files; ` +
        `the reference measured on ${REFERENCE_USERS} users and scaled ×${round(ERASED / REFERENCE_USERS, 1)} to ${ERASED}; ` +
        `batch CPU ${round((cpu.user + cpu.system) / 1e6)} s of this process (DuckDB included); load average ${round(load)} at start; ` +
        `files without any erased user: ${withoutErased}, of them untouched: ${quietUntouched}; untouched in all: ${untouched}; erasures done: ${rows.rows[0]?.n}`,
    );
    console.log(
      JSON.stringify({
        bench: 'erase',
        users: ERASED,
        users_per_day: USERS,
        days: DAYS,
        files: files.length,
        files_scanned: result.filesScanned,
        files_rewritten: result.filesRewritten,
        files_untouched: untouched,
        files_without_erased_untouched: `${quietUntouched}/${withoutErased}`,
        rows_removed: result.rowsRemoved,
        rewrite_s: round(rewriteS),
        per_user_reference_s: round(perUserReferenceS),
        reference_users_measured: REFERENCE_USERS,
        speedup: round(perUserReferenceS / rewriteS, 1),
        rows_left: left,
      }),
    );
  } finally {
    await storage.close();
    await db.destroy();
    await rm(scratch, { recursive: true, force: true });
    await dropDatabase(url);
  }
}

await main();
