import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBDataChunk, Json } from '@duckdb/node-api';
import { type ManifestFile, readManifest } from '../cold/layout.ts';
import { lateTables } from '../db/cold-days.ts';
import { createClient } from '../db/create-db.ts';
import { type PartitionedTable, partitionedTables, utcDay } from '../db/partitions.ts';
import type { ObjectStorage } from '../storage/storage.ts';
import { daysBetween, fetchCached } from './cold-files.ts';
import { type ColumnPlan, tableColumns } from './columns.ts';
import { type DuckDbSettings, openDuckDb, quoteIdent, quoteLiteral } from './duckdb.ts';
import { copyToParquet, type ParquetPart, selectList } from './pg-to-parquet.ts';

export interface ColdQueryOptions {
  databaseUrl: string;
  storage: ObjectStorage;
  /** Fetched cold files are kept here and reused while their size matches the manifest. */
  cacheDir: string;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  /** First and last UTC day (`YYYY-MM-DD`, inclusive). */
  from: string;
  to: string;
  /** @defaultValue every partitioned table */
  tables?: readonly PartitionedTable[];
  /**
   * Postgres conditions hot rows must also meet, per table: pushed into the COPY, so rows the
   * caller would filter out anyway never leave Postgres. Cold rows are the caller's SQL's to
   * filter; a condition here must not name the table (it runs on the partition and on the
   * late table alike).
   */
  hotWhere?: Partial<Record<PartitionedTable, string>>;
  /**
   * Only these columns of hot rows are copied, per table (the others read as NULL in
   * `<table>`): a caller that reads a few columns of wide rows leaves the rest in Postgres.
   */
  hotColumns?: Partial<Record<PartitionedTable, readonly string[]>>;
  /**
   * Unpartitioned Postgres tables to load as well (hot only, e.g. `shadow_comparisons`), each
   * as `hot.<name>` and `<name>`, with an optional Postgres condition.
   */
  plainTables?: readonly { name: string; where?: string }[];
  /**
   * The job's signal: copying hot rows out stops when it aborts (a timeout, a cancellation, a
   * worker shutting down) instead of leaving Postgres writing to a COPY nobody reads.
   */
  signal?: AbortSignal;
  /** Called as cold files are fetched (for a progress bar). */
  onFetch?: (progress: { done: number; total: number; bytes: number; cached: number }) => void;
}

/** What is loaded, per table. */
export interface TableSources {
  table: PartitionedTable;
  coldDays: string[];
  coldFiles: number;
  coldRows: number;
  hotRows: number;
}

export interface QueryResult {
  columns: { name: string; type: string }[];
  /** JSON-safe values (BIGINT and DECIMAL as strings, timestamps as ISO text). */
  rows: Record<string, unknown>[];
}

export interface ColdQuery {
  sources: TableSources[];
  query(sql: string): Promise<QueryResult>;
  /**
   * The rows of `sql` in chunks of about 2,048, JSON-safe as in {@link QueryResult}, read as
   * they are consumed: memory holds one chunk whatever the result's size.
   */
  stream(sql: string): AsyncIterable<Record<string, Json>[]>;
  /**
   * The result of `sql` as DuckDB's own chunks (about 2,048 rows each), read as they are
   * consumed, for a caller that reads each value once as it goes (`getColumnVector(i).getItem(r)`)
   * instead of a chunk of row objects made up front.
   */
  chunks(sql: string): AsyncIterable<DuckDBDataChunk>;
  close(): Promise<void>;
}

/**
 * Postgres conditions for a table's hot rows of a day range: the partitions' rows minus days
 * already in cold storage (`coldDays`: a day kept for its grace period would otherwise count
 * twice), and the late table's rows (waiting for their day's next export, never in a cold file
 * yet). For a caller that sums hot rows in Postgres beside a {@link ColdQuery}'s cold ones.
 */
export function hotRange(
  table: PartitionedTable,
  from: string,
  to: string,
  coldDays: readonly string[],
): { partition: string; late: string } {
  const column = quoteIdent(partitionedTables[table]);
  const until = utcDay(new Date(`${to}T00:00:00Z`), 1);
  const inRange = `${column} >= '${from} 00:00:00+00' AND ${column} < '${until} 00:00:00+00'`;
  const notCold =
    coldDays.length > 0
      ? ` AND (${column} AT TIME ZONE 'UTC')::date NOT IN (${coldDays.map((d) => `'${d}'`).join(', ')})`
      : '';
  return { partition: inRange + notCold, late: inRange };
}

/** The range has neither cold files nor hot rows in any table. */
export class NoDataError extends Error {
  constructor(from: string, to: string) {
    super(
      `no data from ${from} to ${to}: no exported day in object storage and no row in Postgres; widen --from/--to`,
    );
    this.name = 'NoDataError';
  }
}

/** DuckDB refused the SQL (syntax, unknown column, type error): its own message says why. */
export class QuerySqlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuerySqlError';
  }
}

/**
 * DuckDB over hot and cold data for a day range: `cold.<table>` reads the exported Parquet
 * (manifest-listed files only, fetched into `cacheDir` and verified by SHA-256 on the way),
 * `hot.<table>` holds the Postgres rows of the range (streamed by COPY, for days not exported
 * yet), and `<table>` is both, `UNION ALL BY NAME` so a column added later simply reads as
 * NULL in older files. DuckDB cannot reach Postgres or S3 itself here; everything is brought
 * to it.
 */
export async function openColdQuery(options: ColdQueryOptions): Promise<ColdQuery> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(options.from) || !/^\d{4}-\d{2}-\d{2}$/.test(options.to)) {
    throw new RangeError(
      `--from and --to must be days like 2026-11-20 (got ${options.from}, ${options.to})`,
    );
  }
  if (options.from > options.to) {
    throw new RangeError(`--from ${options.from} is after --to ${options.to}`);
  }
  const tables = options.tables ?? (Object.keys(partitionedTables) as PartitionedTable[]);
  await mkdir(options.cacheDir, { recursive: true });
  const scratch = await mkdtemp(join(options.cacheDir, '.query-'));
  const duck = await openDuckDb({ ...options.duckdb, tempDirectory: join(scratch, 'spill') });
  const client = createClient({ url: options.databaseUrl, applicationName: 'lowburn query' });
  const close = async () => {
    duck.close();
    await client.end().catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  };
  try {
    await client.connect();
    await client.query("SET TimeZone = 'UTC'");
    const c = duck.connection;
    await c.run('CREATE SCHEMA cold; CREATE SCHEMA hot;');

    // Cold: one manifest read per day of the range (a missing one is a day not exported), not a
    // listing of the table's whole folder, then every file the manifests name, fetched once.
    const range = daysBetween(options.from, options.to);
    const cold = await Promise.all(
      tables.map(async (table) => {
        const days: string[] = [];
        const files: ManifestFile[] = [];
        for (let i = 0; i < range.length; i += 16) {
          const batch = range.slice(i, i + 16);
          const manifests = await Promise.all(
            batch.map((day) => readManifest(options.storage, table, day)),
          );
          manifests.forEach((manifest, j) => {
            if (!manifest) return;
            days.push(batch[j] as string);
            files.push(...manifest.files);
          });
        }
        return { table, days, files };
      }),
    );
    const all = cold.flatMap((t) => t.files);
    const progress = { done: 0, total: all.length, bytes: 0, cached: 0 };
    options.onFetch?.(progress);
    const local = new Map<string, string>();
    for (const file of all) {
      const { path, cached } = await fetchCached(options.storage, options.cacheDir, file);
      local.set(file.key, path);
      progress.done++;
      progress.bytes += file.bytes;
      if (cached) progress.cached++;
      options.onFetch?.(progress);
    }

    const sources: TableSources[] = [];
    for (const { table, days, files } of cold) {
      const columns = await tableColumns(client, table);
      const id = quoteIdent(table);
      if (files.length > 0) {
        const paths = files.map((f) => quoteLiteral(local.get(f.key) ?? ''));
        await c.run(
          `CREATE VIEW cold.${id} AS SELECT * FROM read_parquet([${paths.join(', ')}], union_by_name = true)`,
        );
      } else {
        await c.run(
          `CREATE TABLE cold.${id} (${columns.map((col) => `${quoteIdent(col.name)} ${col.type}`).join(', ')})`,
        );
      }
      const hot = hotRange(table, options.from, options.to, days);
      const wanted = options.hotWhere?.[table];
      const also = wanted ? ` AND (${wanted})` : '';
      const only = options.hotColumns?.[table];
      const pick = (cols: ColumnPlan[]) =>
        only ? cols.filter((col) => only.includes(col.name)) : cols;
      const parts: ParquetPart[] = [];
      for (const [source, where, sourceColumns] of [
        [table, hot.partition + also, pick(columns)],
        [lateTables[table], hot.late + also, pick(await tableColumns(client, lateTables[table]))],
      ] as const) {
        parts.push(
          ...(await copyToParquet({
            client,
            duck: c,
            signal: options.signal,
            query: `SELECT ${selectList(sourceColumns)} FROM ${quoteIdent(source)} WHERE ${where}`,
            columns: sourceColumns,
            outDir: join(scratch, 'hot', source),
            fileName: (i) => `hot-${i}.parquet`,
            rowsPerFile: Number.MAX_SAFE_INTEGER,
            // Scratch files read once or twice: small row groups keep the memory a scan of
            // wide rows (generations' requests and answers) needs per thread small.
            rowGroupSize: 4096,
          })),
        );
      }
      if (parts.length > 0) {
        await c.run(
          `CREATE VIEW hot.${id} AS SELECT * FROM read_parquet([${parts.map((p) => quoteLiteral(p.file)).join(', ')}], union_by_name = true)`,
        );
      } else {
        await c.run(`CREATE TABLE hot.${id} AS SELECT * FROM cold.${id} LIMIT 0`);
      }
      await c.run(
        `CREATE VIEW main.${id} AS SELECT * FROM cold.${id} UNION ALL BY NAME SELECT * FROM hot.${id}`,
      );
      sources.push({
        table,
        coldDays: days,
        coldFiles: files.length,
        coldRows: files.reduce((n, f) => n + f.rows, 0),
        hotRows: parts.reduce((n, p) => n + p.rows, 0),
      });
    }
    if (sources.every((s) => s.coldFiles === 0 && s.hotRows === 0)) {
      throw new NoDataError(options.from, options.to);
    }
    for (const plain of options.plainTables ?? []) {
      await loadPlainTable(client, c, plain, join(scratch, 'plain'));
    }

    return {
      sources,
      async query(sql) {
        let reader: Awaited<ReturnType<typeof c.runAndReadAll>>;
        try {
          reader = await c.runAndReadAll(sql);
        } catch (error) {
          throw new QuerySqlError(error instanceof Error ? error.message : String(error));
        }
        const names = reader.columnNames();
        const types = reader.columnTypes().map(String);
        return {
          columns: names.map((name, i) => ({ name, type: types[i] ?? '' })),
          rows: reader.getRowObjectsJson() as Record<string, unknown>[],
        };
      },
      async *stream(sql) {
        let result: Awaited<ReturnType<typeof c.stream>>;
        try {
          result = await c.stream(sql);
        } catch (error) {
          throw new QuerySqlError(error instanceof Error ? error.message : String(error));
        }
        yield* result.yieldRowObjectJson();
      },
      async *chunks(sql) {
        let result: Awaited<ReturnType<typeof c.stream>>;
        try {
          result = await c.stream(sql);
        } catch (error) {
          throw new QuerySqlError(error instanceof Error ? error.message : String(error));
        }
        yield* result;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A whole (unpartitioned) Postgres table, or the rows meeting `where`, as `hot.<name>` and `<name>`. */
async function loadPlainTable(
  client: ReturnType<typeof createClient>,
  duck: DuckDBConnection,
  table: { name: string; where?: string },
  outDir: string,
): Promise<void> {
  const columns = await tableColumns(client, table.name);
  if (columns.length === 0) throw new Error(`no table ${table.name} in Postgres`);
  const id = quoteIdent(table.name);
  const parts = await copyToParquet({
    client,
    duck,
    query: `SELECT ${selectList(columns)} FROM ${id}${table.where ? ` WHERE ${table.where}` : ''}`,
    columns,
    outDir: join(outDir, table.name),
    fileName: (i) => `plain-${i}.parquet`,
    rowsPerFile: Number.MAX_SAFE_INTEGER,
  });
  await duck.run(
    parts.length > 0
      ? `CREATE VIEW hot.${id} AS SELECT * FROM read_parquet([${parts.map((p) => quoteLiteral(p.file)).join(', ')}])`
      : `CREATE TABLE hot.${id} (${columns.map((col) => `${quoteIdent(col.name)} ${col.type}`).join(', ')})`,
  );
  await duck.run(`CREATE VIEW main.${id} AS SELECT * FROM hot.${id}`);
}

/**
 * Runs `work` over a cold query of the range and closes the query after it; a range with neither
 * cold files nor hot rows gives `empty()` without running `work`.
 */
export async function withColdQuery<T>(
  options: ColdQueryOptions,
  work: (query: ColdQuery) => Promise<T>,
  empty: () => T,
): Promise<T> {
  let query: ColdQuery;
  try {
    query = await openColdQuery(options);
  } catch (error) {
    if (error instanceof NoDataError) return empty();
    throw error;
  }
  try {
    return await work(query);
  } finally {
    await query.close();
  }
}
