import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sql } from 'kysely';
import {
  coldLayout,
  type Manifest,
  type ManifestFile,
  manifestErasureSchema,
  manifestFileSchema,
  readManifest,
} from '../../shared/cold/layout.ts';
import { claimDayForExport } from '../../shared/db/cold-days.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { ExportState } from '../../shared/db/database.ts';
import {
  detachPartition,
  type PartitionedTable,
  partitionName,
} from '../../shared/db/partitions.ts';
import { tableColumns } from '../../shared/duckdb/columns.ts';
import { quoteIdent } from '../../shared/duckdb/duckdb.ts';
import { copyToParquet, selectList } from '../../shared/duckdb/pg-to-parquet.ts';
import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import { sha256OfFile } from '../../shared/storage/sha256.ts';
import {
  type ExportContext,
  fileEntry,
  localDir,
  manifestColumns,
  PARQUET,
  putManifest,
  type Run,
  sum,
  verifyObject,
} from './day-files.ts';
import { exportLate } from './export-late.ts';

export type { ExportContext, ExportStep } from './day-files.ts';

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
    erasures: manifestErasureSchema.array().parse(row.erasures ?? []),
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

async function partitionExists(ctx: ExportContext, run: Run): Promise<boolean> {
  const name = partitionName(run.table, run.day);
  const result = await ctx.client.query('SELECT to_regclass($1) IS NOT NULL AS exists', [
    quoteIdent(name),
  ]);
  return result.rows[0].exists === true;
}

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
  const files: ManifestFile[] = [];
  for (const p of parts) files.push(await fileEntry(ctx, run, p, 'partition'));
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

/**
 * verified → dropped: the partition detached, then dropped in one transaction with the state
 * change (DDL is transactional in Postgres, so there is no moment where the partition is gone
 * and the row says otherwise).
 * Returns when the drop is due instead, while the grace period runs.
 */
async function drop(ctx: ExportContext, run: Run): Promise<Date | undefined> {
  const due = new Date((run.verifiedAt ?? ctx.now()).getTime() + ctx.dropGraceMs);
  if (due > ctx.now()) return due;
  const partition = partitionName(run.table, run.day);
  // Detached first (writers of the table never wait for it), then dropped under a lock on the
  // partition alone; a crash in between leaves a detached table that a rerun drops.
  const exists = await detachPartition(ctx.db, run.table, run.day);
  await ctx.db.transaction().execute(async (trx) => {
    await sql`SET LOCAL lock_timeout = '30s'`.execute(trx);
    if (exists) {
      // The partition is frozen since the day was claimed; this guards against writes that
      // bypassed lowburn. Read under the drop's lock, so nothing can slip in after the count.
      await sql`LOCK TABLE ${sql.table(partition)} IN ACCESS EXCLUSIVE MODE`.execute(trx);
      const count = await sql<{
        n: string;
      }>`SELECT count(*) AS n FROM ${sql.table(partition)}`.execute(trx);
      const rows = Number(count.rows[0]?.n);
      if (rows !== sum(run.files.filter((f) => f.source === 'partition'))) {
        throw new ExportVerificationError(
          `${partition} now holds ${rows} rows but its files hold ${sum(run.files)}; not dropping it (it is detached from ${run.table}: read it by its own name)`,
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
  // Keys, not only the count: an erasure replaces files one for one.
  const keys = (files: ManifestFile[]) => files.map((f) => f.key).join('\n');
  if (manifest && keys(manifest.files) === keys(run.files)) return;
  await putManifest(ctx, run, run.files);
}
