import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sql } from 'kysely';
import type pg from 'pg';
import pkg from '../../package.json' with { type: 'json' };
import {
  coldLayout,
  type Manifest,
  type ManifestFile,
  manifestFileSchema,
  readManifest,
} from '../../shared/cold/layout.ts';
import { claimDayForExport, lateTables } from '../../shared/db/cold-days.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { ExportState } from '../../shared/db/database.ts';
import {
  type PartitionedTable,
  partitionedTables,
  partitionName,
  utcDay,
} from '../../shared/db/partitions.ts';
import { type ColumnPlan, tableColumns } from '../../shared/duckdb/columns.ts';
import { quoteIdent, quoteLiteral } from '../../shared/duckdb/duckdb.ts';
import { copyToParquet, type ParquetPart, selectList } from '../../shared/duckdb/pg-to-parquet.ts';
import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import type { Logger } from '../../shared/log/logger.ts';
import { Sha256Transform, sha256OfFile } from '../../shared/storage/sha256.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

/** Points where an export commits progress; tests inject a crash after each. */
export type ExportStep =
  | 'claimed'
  | 'written'
  | 'uploaded'
  | 'verified'
  | 'dropping'
  | 'dropped'
  | 'late-uploaded'
  | 'late-committed';

export interface ExportContext {
  db: Db;
  /** A client of the export's own, with `TimeZone = UTC`: COPY streams and the late pass run on it. */
  client: pg.Client;
  duck: DuckDBConnection;
  storage: ObjectStorage;
  log: Logger;
  /** Local folder for files on their way to object storage. */
  workDir: string;
  rowsPerFile: number;
  /** A verified partition is dropped only this long after verification. */
  dropGraceMs: number;
  now: () => Date;
  signal?: AbortSignal;
  /** Called after each step; a throw here is a crash at that point. */
  afterStep?: (step: ExportStep, day: { table: PartitionedTable; day: string }) => unknown;
}

export interface DayResult {
  table: PartitionedTable;
  day: string;
  state: ExportState;
  rows: number;
  files: number;
  /** Late rows exported as additional parts by this run. */
  lateRows: number;
  /** Set when a verified partition is kept for the grace period. */
  dropAfter?: string;
}

interface Run {
  table: PartitionedTable;
  day: string;
  state: ExportState;
  files: ManifestFile[];
  columns: Manifest['columns'];
  rows: number;
  verifiedAt: Date | null;
  startedAt: Date;
}

const PARQUET = 'application/vnd.apache.parquet';

/**
 * Moves one day of one hot table to cold storage, resuming from whatever step its
 * `export_runs` row records: pending → written → uploaded → verified → dropped. Each step
 * commits its state only after its effect is complete and repeatable, so a crash anywhere and a
 * rerun end with every row exactly once across Postgres and object storage. A dropped day
 * then only drains late rows, if any, as additional parts.
 */
export async function exportDay(
  ctx: ExportContext,
  table: PartitionedTable,
  day: string,
): Promise<DayResult> {
  if (await claimDayForExport(ctx.db, table, day)) await ctx.afterStep?.('claimed', { table, day });
  for (;;) {
    ctx.signal?.throwIfAborted();
    const run = await loadRun(ctx.db, table, day);
    const result = (extra: Partial<DayResult> = {}): DayResult => ({
      table,
      day,
      state: run.state,
      rows: run.rows,
      files: run.files.length,
      lateRows: 0,
      ...extra,
    });
    switch (run.state) {
      case 'pending':
      case 'failed':
        await write(ctx, run);
        break;
      case 'written':
        await upload(ctx, run);
        break;
      case 'uploaded':
        await verify(ctx, run);
        break;
      case 'verified': {
        const dropAfter = await drop(ctx, run);
        if (dropAfter) return result({ dropAfter: dropAfter.toISOString() });
        break;
      }
      case 'dropped': {
        await syncManifest(ctx, run);
        const late = await exportLate(ctx, run);
        const after = await loadRun(ctx.db, table, day);
        return { ...result(), rows: after.rows, files: after.files.length, lateRows: late };
      }
    }
  }
}

async function loadRun(db: Db, table: PartitionedTable, day: string): Promise<Run> {
  const row = await db
    .selectFrom('export_runs')
    .selectAll()
    .where('table_name', '=', table)
    .where('day', '=', day)
    .executeTakeFirstOrThrow();
  return {
    table,
    day,
    state: row.state,
    files: manifestFileSchema.array().parse(row.files),
    columns: row.columns as Manifest['columns'],
    rows: Number(row.rows ?? 0),
    verifiedAt: row.verified_at,
    startedAt: row.started_at,
  };
}

async function setRun(
  db: Db,
  run: Run,
  from: ExportState,
  values: {
    state: ExportState;
    files?: ManifestFile[];
    columns?: Manifest['columns'];
    error?: string | null;
    verifiedAt?: Date;
    finished?: boolean;
  },
): Promise<void> {
  const files = values.files;
  const result = await db
    .updateTable('export_runs')
    .set({
      state: values.state,
      updated_at: sql`now()`,
      ...(files && {
        files: JSON.stringify(files),
        rows: files.reduce((n, f) => n + f.rows, 0),
        bytes: files.reduce((n, f) => n + f.bytes, 0),
      }),
      ...(values.columns && { columns: JSON.stringify(values.columns) }),
      ...(values.error !== undefined && { error: values.error }),
      ...(values.verifiedAt && { verified_at: values.verifiedAt }),
      ...(values.finished && { finished_at: sql`now()` }),
      ...(values.state === 'written' && { attempts: sql`attempts + 1` }),
    })
    .where('table_name', '=', run.table)
    .where('day', '=', run.day)
    .where('state', '=', from)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) {
    throw new Error(
      `export of ${run.table} ${run.day} moved on under us (expected state "${from}"): is another export running?`,
    );
  }
}

const localDir = (ctx: ExportContext, run: Run) => join(ctx.workDir, run.table, run.day);

async function partitionExists(ctx: ExportContext, run: Run): Promise<boolean> {
  const name = partitionName(run.table, run.day);
  const result = await ctx.client.query('SELECT to_regclass($1) IS NOT NULL AS exists', [
    quoteIdent(name),
  ]);
  return result.rows[0].exists === true;
}

const manifestColumns = (columns: ColumnPlan[]): Manifest['columns'] =>
  columns.map((c) => ({ name: c.name, type: c.type, postgresType: c.postgresType }));

/** pending → written: the partition, streamed into local Parquet files. */
async function write(ctx: ExportContext, run: Run): Promise<void> {
  const dir = localDir(ctx, run);
  await rm(dir, { recursive: true, force: true });
  const partition = partitionName(run.table, run.day);
  const exists = await partitionExists(ctx, run);
  // A day without a partition (nothing was ever written for it) is exported as an empty day.
  const columns = await tableColumns(ctx.client, exists ? partition : run.table);
  const parts = exists
    ? await copyToParquet({
        client: ctx.client,
        duck: ctx.duck,
        query: `SELECT ${selectList(columns)} FROM ${quoteIdent(partition)}`,
        columns,
        outDir: dir,
        fileName: coldLayout.partName,
        rowsPerFile: ctx.rowsPerFile,
        signal: ctx.signal,
      })
    : [];
  const files = parts.map((p) => fileEntry(run, p, 'partition'));
  await setRun(ctx.db, run, run.state, {
    state: 'written',
    files,
    columns: manifestColumns(columns),
    error: null,
  });
  ctx.log.info(
    { table: run.table, day: run.day, files: files.length, rows: sum(files) },
    'written',
  );
  await ctx.afterStep?.('written', run);
}

const fileEntry = (run: Run, part: ParquetPart, source: ManifestFile['source']): ManifestFile => ({
  key: coldLayout.partKey(run.table, run.day, part.index),
  rows: part.rows,
  bytes: part.bytes,
  sha256: part.sha256,
  source,
});

const sum = (files: ManifestFile[]) => files.reduce((n, f) => n + f.rows, 0);

/** written → uploaded. Local files lost with a crashed machine send the day back to `pending`. */
async function upload(ctx: ExportContext, run: Run): Promise<void> {
  const dir = localDir(ctx, run);
  for (const file of run.files) {
    const local = join(dir, basename(file.key));
    const hash = await sha256OfLocal(local);
    if (hash !== file.sha256) {
      ctx.log.warn({ file: local }, 'local export file missing or changed; writing the day again');
      await setRun(ctx.db, run, 'written', { state: 'pending' });
      return;
    }
  }
  for (const file of run.files) {
    await ctx.storage.put(
      file.key,
      { file: join(dir, basename(file.key)) },
      {
        expectedSha256: file.sha256,
        contentType: PARQUET,
      },
    );
  }
  await setRun(ctx.db, run, 'written', { state: 'uploaded' });
  await rm(dir, { recursive: true, force: true });
  await ctx.afterStep?.('uploaded', run);
}

async function sha256OfLocal(file: string): Promise<string | undefined> {
  return sha256OfFile(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
}

/**
 * uploaded → verified: every object as stored (size, SHA-256 of the bytes read back, rows
 * counted by DuckDB in the downloaded file) against what was written and against the
 * partition's own `count(*)`; then the manifest. A mismatch sends the day back to `pending`.
 */
async function verify(ctx: ExportContext, run: Run): Promise<void> {
  try {
    const expected = (await partitionExists(ctx, run))
      ? Number(
          (
            await ctx.client.query(
              `SELECT count(*) AS n FROM ${quoteIdent(partitionName(run.table, run.day))}`,
            )
          ).rows[0].n,
        )
      : 0;
    if (sum(run.files) !== expected) {
      throw new ExportVerificationError(
        `${run.table} ${run.day}: the files hold ${sum(run.files)} rows, the partition ${expected}`,
      );
    }
    for (const file of run.files) await verifyObject(ctx, file);
  } catch (error) {
    if (error instanceof ExportVerificationError) {
      await setRun(ctx.db, run, 'uploaded', { state: 'pending', error: error.message });
    }
    throw error;
  }
  await removeStrays(ctx, run);
  await putManifest(ctx, run, run.files);
  await setRun(ctx.db, run, 'uploaded', { state: 'verified', verifiedAt: ctx.now() });
  await ctx.afterStep?.('verified', run);
}

/** Reads an object back: size and SHA-256 of the stored bytes, and DuckDB's row count. */
async function verifyObject(ctx: ExportContext, file: ManifestFile): Promise<void> {
  const info = await ctx.storage.head(file.key);
  if (!info) throw new ExportVerificationError(`${file.key} is missing from object storage`);
  if (info.size !== file.bytes || (info.sha256 !== undefined && info.sha256 !== file.sha256)) {
    throw new ExportVerificationError(
      `${file.key} as stored (${info.size} bytes, sha256 ${info.sha256}) differs from what was written (${file.bytes} bytes, sha256 ${file.sha256})`,
    );
  }
  const tmp = join(ctx.workDir, '.verify', `${basename(file.key)}-${process.pid}-${Date.now()}`);
  await mkdir(join(ctx.workDir, '.verify'), { recursive: true });
  try {
    const hasher = new Sha256Transform();
    await pipeline(await ctx.storage.get(file.key), hasher, createWriteStream(tmp));
    if (hasher.sha256 !== file.sha256) {
      throw new ExportVerificationError(
        `${file.key} read back with sha256 ${hasher.sha256}, expected ${file.sha256}`,
      );
    }
    const reader = await ctx.duck.runAndReadAll(
      `SELECT count(*)::BIGINT AS n FROM read_parquet(${quoteLiteral(tmp)})`,
    );
    const rows = Number(reader.getRows()[0]?.[0]);
    if (rows !== file.rows) {
      throw new ExportVerificationError(`${file.key} holds ${rows} rows, expected ${file.rows}`);
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Objects in the day's folder that the manifest will not name (left by an attempt that crashed). */
async function removeStrays(ctx: ExportContext, run: Run): Promise<void> {
  const keep = new Set([
    ...run.files.map((f) => f.key),
    coldLayout.manifestKey(run.table, run.day),
  ]);
  for await (const object of ctx.storage.list(coldLayout.dayPrefix(run.table, run.day))) {
    if (!keep.has(object.key)) await ctx.storage.delete(object.key);
  }
}

async function putManifest(ctx: ExportContext, run: Run, files: ManifestFile[]): Promise<void> {
  const manifest: Manifest = {
    format: 'lowburn.cold.v1',
    table: run.table,
    day: run.day,
    rows: sum(files),
    bytes: files.reduce((n, f) => n + f.bytes, 0),
    files,
    columns: run.columns,
    exportedAt: run.startedAt.toISOString(),
    updatedAt: ctx.now().toISOString(),
    lowburnVersion: pkg.version,
  };
  await ctx.storage.put(
    coldLayout.manifestKey(run.table, run.day),
    `${JSON.stringify(manifest, null, 2)}\n`,
    { contentType: 'application/json' },
  );
}

/**
 * verified → dropped, in one transaction with the state change (DDL is transactional in
 * Postgres, so there is no moment where the partition is gone and the row says otherwise).
 * Returns when the drop is due instead, while the grace period runs.
 */
async function drop(ctx: ExportContext, run: Run): Promise<Date | undefined> {
  const due = new Date((run.verifiedAt ?? ctx.now()).getTime() + ctx.dropGraceMs);
  if (due > ctx.now()) return due;
  const partition = partitionName(run.table, run.day);
  await ctx.db.transaction().execute(async (trx) => {
    await sql`SET LOCAL lock_timeout = '30s'`.execute(trx);
    const exists = await sql<{
      exists: boolean;
    }>`SELECT to_regclass(${quoteIdent(partition)}) IS NOT NULL AS exists`.execute(trx);
    if (exists.rows[0]?.exists) {
      // The partition is frozen since the day was claimed; this guards against writes that
      // bypassed lowburn. Read under the drop's lock, so nothing can slip in after the count.
      await sql`LOCK TABLE ${sql.table(partition)} IN ACCESS EXCLUSIVE MODE`.execute(trx);
      const count = await sql<{
        n: string;
      }>`SELECT count(*) AS n FROM ${sql.table(partition)}`.execute(trx);
      const rows = Number(count.rows[0]?.n);
      if (rows !== sum(run.files.filter((f) => f.source === 'partition'))) {
        throw new ExportVerificationError(
          `${partition} now holds ${rows} rows but its files hold ${sum(run.files)}; not dropping it`,
        );
      }
      await ctx.afterStep?.('dropping', run);
      await sql`DROP TABLE ${sql.table(partition)}`.execute(trx);
    }
    const updated = await trx
      .updateTable('export_runs')
      .set({ state: 'dropped', updated_at: sql`now()`, finished_at: sql`now()` })
      .where('table_name', '=', run.table)
      .where('day', '=', run.day)
      .where('state', '=', 'verified')
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1)
      throw new Error(`export of ${partition} moved on under us`);
  });
  ctx.log.info(
    { table: run.table, day: run.day, rows: run.rows },
    'partition exported and dropped',
  );
  await ctx.afterStep?.('dropped', run);
  return undefined;
}

/** Rewrites the manifest when it lags its `export_runs` row (a crash after a late commit). */
async function syncManifest(ctx: ExportContext, run: Run): Promise<void> {
  const manifest = await readManifest(ctx.storage, run.table, run.day);
  if (manifest && manifest.files.length === run.files.length) return;
  await putManifest(ctx, run, run.files);
}

/**
 * Late rows of a dropped day become one more part (or several), in one Postgres transaction
 * that deletes them from the late table: `COPY (DELETE … RETURNING …)` streams them into
 * Parquet, the parts are uploaded and verified, `export_runs` gains the files, and only then
 * does the transaction commit. A crash before the commit leaves the rows where they were (the
 * part is overwritten by the rerun, under the same key); after it, the manifest is rewritten
 * from `export_runs`. Returns the rows exported.
 */
async function exportLate(ctx: ExportContext, run: Run): Promise<number> {
  const late = lateTables[run.table];
  const column = quoteIdent(partitionedTables[run.table]);
  const from = `${run.day} 00:00:00+00`;
  const to = `${utcDay(new Date(`${run.day}T00:00:00Z`), 1)} 00:00:00+00`;
  const where = `${column} >= '${from}' AND ${column} < '${to}'`;
  const any = await ctx.client.query(`SELECT 1 FROM ${quoteIdent(late)} WHERE ${where} LIMIT 1`);
  if (any.rowCount === 0) return 0;

  const dir = join(localDir(ctx, run), 'late');
  const client = ctx.client;
  await client.query('BEGIN');
  try {
    const columns = await tableColumns(client, late);
    const parts = await copyToParquet({
      client,
      duck: ctx.duck,
      query: `DELETE FROM ${quoteIdent(late)} WHERE ${where} RETURNING ${selectList(columns)}`,
      columns,
      outDir: dir,
      fileName: coldLayout.partName,
      firstIndex: run.files.length,
      rowsPerFile: ctx.rowsPerFile,
      signal: ctx.signal,
    });
    const added = parts.map((p) => fileEntry(run, p, 'late'));
    for (const file of added) {
      await ctx.storage.put(
        file.key,
        { file: join(dir, basename(file.key)) },
        {
          expectedSha256: file.sha256,
          contentType: PARQUET,
        },
      );
      await verifyObject(ctx, file);
    }
    await ctx.afterStep?.('late-uploaded', run);
    const known = new Set(run.columns.map((c) => c.name));
    const files = [...run.files, ...added];
    const merged = [...run.columns, ...manifestColumns(columns).filter((c) => !known.has(c.name))];
    await client.query(
      `UPDATE export_runs SET files = $1, columns = $2, rows = $3, bytes = $4, updated_at = now()
       WHERE table_name = $5 AND day = $6 AND state = 'dropped'`,
      [
        JSON.stringify(files),
        JSON.stringify(merged),
        sum(files),
        files.reduce((n, f) => n + f.bytes, 0),
        run.table,
        run.day,
      ],
    );
    await client.query('COMMIT');
    await ctx.afterStep?.('late-committed', run);
    await putManifest(ctx, { ...run, columns: merged }, files);
    const rows = sum(added);
    ctx.log.info(
      { table: run.table, day: run.day, rows, parts: added.length },
      'late rows exported',
    );
    return rows;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
