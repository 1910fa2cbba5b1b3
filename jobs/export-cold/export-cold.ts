import { join } from 'node:path';
import type pg from 'pg';
import { takeColdWriteLock } from '../../shared/cold/write-lock.ts';
import { lateTables } from '../../shared/db/cold-days.ts';
import { connectClient, type Db } from '../../shared/db/create-db.ts';
import {
  ensurePartitions,
  listPartitions,
  type PartitionedTable,
  partitionedTables,
} from '../../shared/db/partitions.ts';
import { type DuckDbSettings, openDuckDb, quoteIdent } from '../../shared/duckdb/duckdb.ts';
import { isStoreUnreachable } from '../../shared/errors/store-unreachable.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';
import { type DayResult, type ExportContext, exportDay } from './export-day.ts';

export interface ExportColdOptions {
  db: Db;
  databaseUrl: string;
  storage: ObjectStorage;
  log: Logger;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  workDir: string;
  rowsPerFile: number;
  hotRetentionMs: number;
  dropGraceMs: number;
  /** Future partitions kept created (the `maintain-partitions` duty). */
  partitionDaysAhead: number;
  /** Only these tables. @defaultValue every partitioned table */
  tables?: readonly PartitionedTable[];
  /** Only this day (it must be entirely older than the hot window). */
  day?: string;
  now?: () => Date;
  signal?: AbortSignal;
  afterStep?: ExportContext['afterStep'];
}

export interface ExportColdResult {
  /** `false` when another export held the lock; nothing was done. */
  ran: boolean;
  days: DayResult[];
}

const DAY_MS = 86_400_000;

/**
 * The `export-cold` run: every day partition of every hot table that is entirely older than
 * the hot window, every day an earlier run left unfinished, and every exported day that has
 * received late rows — each through `exportDay`, oldest first.
 */
export async function exportCold(options: ExportColdOptions): Promise<ExportColdResult> {
  const now = options.now ?? (() => new Date());
  const tables = options.tables ?? (Object.keys(partitionedTables) as PartitionedTable[]);
  await ensurePartitions(options.db, { from: now(), days: options.partitionDaysAhead });

  // A connection of the export's own: COPY streams hold it for long.
  const connect = () =>
    connectClient({
      url: options.databaseUrl,
      applicationName: 'lowburn export-cold',
      log: options.log,
    });
  // One export at a time across the fleet, nor while `apply-erasures` rewrites files.
  const lock = await takeColdWriteLock(connect, 'export-cold');
  if (!lock) {
    options.log.info('another export-cold run holds the lock; skipping');
    return { ran: false, days: [] };
  }
  let client: pg.Client;
  try {
    client = await connect();
  } catch (error) {
    await lock.release();
    throw error;
  }
  let broken = false;
  const duck = await openDuckDb({
    ...options.duckdb,
    tempDirectory: join(options.workDir, '.duckdb-spill'),
  });
  try {
    await prepareClient(client);
    const ctx: ExportContext = {
      db: options.db,
      client,
      duck: duck.connection,
      storage: options.storage,
      log: options.log,
      workDir: options.workDir,
      rowsPerFile: options.rowsPerFile,
      dropGraceMs: options.dropGraceMs,
      now,
      signal: options.signal,
      afterStep: options.afterStep,
    };
    const days: DayResult[] = [];
    const failed: { table: PartitionedTable; day: string; error: unknown }[] = [];
    for (const table of tables) {
      for (const day of await daysToExport(options.db, ctx.client, table, now(), options)) {
        lock.check();
        try {
          days.push(await exportDay(ctx, table, day));
        } catch (error) {
          // Postgres gone or the job stopped: every later day would fail alike.
          if (isStoreUnreachable(error) || options.signal?.aborted) throw error;
          // One day's own failure (a row DuckDB cannot read, a file that does not verify) must
          // not hold back the days after it: its partition stays, and the next run tries again.
          options.log.error({ err: error, table, day }, 'export of a day failed; going on');
          failed.push({ table, day, error });
          // A COPY cut short leaves the connection mid-protocol: a new one, with the lock.
          client.end().catch(() => {});
          client = await connect();
          await prepareClient(client);
          ctx.client = client;
        }
      }
    }
    if (failed.length > 0) {
      throw new AggregateError(
        failed.map((f) => f.error),
        `export-cold: ${failed.length} day(s) failed and stay in Postgres for the next run (${failed
          .map((f) => `${f.table} ${f.day}: ${firstLine(f.error)}`)
          .join('; ')}); the other days were exported`,
      );
    }
    return { ran: true, days };
  } catch (error) {
    // A COPY cut short leaves the connection mid-protocol: never reuse it.
    broken = true;
    throw error;
  } finally {
    duck.close();
    if (broken) client.end().catch(() => {});
    else await client.end();
    await lock.release();
  }
}

/**
 * UTC for every timestamp it reads. (A transaction-mode PgBouncer keeps `TimeZone` with the
 * client: it is one of the parameters it sets again on whichever server connection it lends.)
 */
async function prepareClient(client: pg.Client): Promise<void> {
  await client.query("SET TimeZone = 'UTC'");
}

const firstLine = (error: unknown) =>
  String(error instanceof Error ? error.message : error).split('\n')[0];

async function daysToExport(
  db: Db,
  client: pg.Client,
  table: PartitionedTable,
  now: Date,
  options: Pick<ExportColdOptions, 'hotRetentionMs' | 'day'>,
): Promise<string[]> {
  const cutoff = now.getTime() - options.hotRetentionMs;
  const cold = (day: string) => Date.parse(`${day}T00:00:00Z`) + DAY_MS <= cutoff;
  if (options.day) {
    if (!cold(options.day)) {
      throw new HotDayError(table, options.day, options.hotRetentionMs);
    }
    return [options.day];
  }
  const partitions = (await listPartitions(db, table)).map((p) => p.day).filter(cold);
  const runs = await db
    .selectFrom('export_runs')
    .select(['day', 'state'])
    .where('table_name', '=', table)
    .execute();
  const unfinished = runs.filter((r) => r.state !== 'dropped').map((r) => r.day);
  const exported = new Set(runs.filter((r) => r.state === 'dropped').map((r) => r.day));
  const column = quoteIdent(partitionedTables[table]);
  const late = await client.query<{ day: string }>(
    `SELECT DISTINCT to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day
     FROM ${quoteIdent(lateTables[table])}`,
  );
  const withLate = late.rows.map((r) => r.day).filter((d) => exported.has(d));
  return [...new Set([...partitions, ...unfinished, ...withLate])].sort();
}

/** A day asked for by name that is still inside the hot window. */
export class HotDayError extends Error {
  constructor(table: string, day: string, hotRetentionMs: number) {
    const after = new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS + hotRetentionMs);
    super(
      `${table} ${day} is still hot: only days entirely older than HOT_RETENTION are exported; this one can go from ${after.toISOString()}`,
    );
    this.name = 'HotDayError';
  }
}
