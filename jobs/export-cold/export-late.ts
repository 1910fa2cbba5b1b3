import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { coldLayout, type ManifestFile } from '../../shared/cold/layout.ts';
import { lateTables } from '../../shared/db/cold-days.ts';
import { partitionedTables, utcDay } from '../../shared/db/partitions.ts';
import { tableColumns } from '../../shared/duckdb/columns.ts';
import { quoteIdent } from '../../shared/duckdb/duckdb.ts';
import { copyToParquet, selectList } from '../../shared/duckdb/pg-to-parquet.ts';
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

/**
 * Late rows of a dropped day become one more part (or several), in one Postgres transaction
 * that deletes them from the late table: `COPY (DELETE … RETURNING …)` streams them into
 * Parquet, the parts are uploaded and verified, `export_runs` gains the files, and only then
 * does the transaction commit. A crash before the commit leaves the rows where they were (the
 * part is overwritten by the rerun, under the same key); after it, the manifest is rewritten
 * from `export_runs`. Returns the rows exported.
 */
export async function exportLate(ctx: ExportContext, run: Run): Promise<number> {
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
    const added: ManifestFile[] = [];
    for (const p of parts) added.push(await fileEntry(ctx, run, p, 'late'));
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
