import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { tableColumns } from '../shared/duckdb/columns.ts';
import { type DuckDbSettings, openDuckDb, quoteLiteral } from '../shared/duckdb/duckdb.ts';
import { copyToParquet, selectList } from '../shared/duckdb/pg-to-parquet.ts';

export interface UsageExportOptions {
  databaseUrl: string;
  /** First UTC day, inclusive; none: from the first day kept. */
  from?: string | undefined;
  /** Last UTC day, inclusive; none: to the last day kept. */
  to?: string | undefined;
  /** The Parquet file to write (replaced if it exists). */
  out: string;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
}

/**
 * Writes the `usage_daily` rows of a range of days to one zstd Parquet file, through the
 * export's own path (`COPY` → DuckDB; jsonb stays JSON, numerics exact decimals), ordered by
 * day, user and API key. Nothing is written when the range has no rows.
 */
export async function exportUsageParquet(
  options: UsageExportOptions,
): Promise<{ rows: number; bytes: number; file: string | undefined }> {
  const out = resolve(options.out);
  const client = new pg.Client({ connectionString: options.databaseUrl });
  const tempDirectory = await mkdtemp(join(tmpdir(), 'lowburn-usage-export-'));
  await client.connect();
  const duck = await openDuckDb({ ...options.duckdb, tempDirectory });
  try {
    const columns = await tableColumns(client, 'usage_daily');
    const where = [
      options.from && `day >= ${quoteLiteral(options.from)}::date`,
      options.to && `day <= ${quoteLiteral(options.to)}::date`,
    ].filter(Boolean);
    const parts = await copyToParquet({
      client,
      duck: duck.connection,
      query: `SELECT ${selectList(columns)} FROM usage_daily
        ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY day, user_id, api_key_id`,
      columns,
      outDir: dirname(out),
      fileName: () => basename(out),
      rowsPerFile: Number.MAX_SAFE_INTEGER,
    });
    const part = parts[0];
    return { rows: part?.rows ?? 0, bytes: part?.bytes ?? 0, file: part?.file };
  } finally {
    duck.close();
    await client.end();
    await rm(tempDirectory, { recursive: true, force: true });
  }
}
