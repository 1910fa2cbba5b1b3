import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest } from '../cold/layout.ts';
import { deviceKey, indexTester, userColumns, userKey } from '../cold/user-index.ts';
import { fetchCached } from '../duckdb/cold-files.ts';
import { type DuckDbSettings, openDuckDb, quoteIdent, quoteLiteral } from '../duckdb/duckdb.ts';
import type { ObjectStorage } from '../storage/storage.ts';
import { type ErasureCheck, requireSubject } from './erasure-check.ts';

/** A cold file that still holds rows of an erased user or device. */
export interface ColdRowsLeft {
  table: string;
  day: string;
  key: string;
  rows: number;
}

export interface ColdErasedCheck {
  storage: ObjectStorage;
  duckdb: Omit<DuckDbSettings, 'tempDirectory'>;
  /** Fetched files are kept here (the query cache: verified by SHA-256 when fetched). */
  cacheDir: string;
  /** The days to read, per table (e.g. every day `export_runs` knows). */
  days: readonly { table: string; day: string }[];
  userIds: readonly string[];
  deviceIds?: readonly string[];
  /**
   * Read every file, not only those whose user index may hold the ids. @defaultValue false —
   * the index has no false negatives, so skipped files cannot hold them.
   */
  everyFile?: boolean;
}

/**
 * For `lowburn users erase --verify`: every file the days' manifests name that still holds a
 * row of the users or devices, read back from object storage by DuckDB. Empty means none left.
 */
export async function checkColdErased(check: ColdErasedCheck): Promise<ColdRowsLeft[]> {
  const keys = [...check.userIds.map(userKey), ...(check.deviceIds ?? []).map(deviceKey)];
  await mkdir(check.cacheDir, { recursive: true });
  const scratch = await mkdtemp(join(check.cacheDir, '.verify-'));
  const duck = await openDuckDb({ ...check.duckdb, tempDirectory: scratch });
  const left: ColdRowsLeft[] = [];
  try {
    for (const { table, day } of check.days) {
      const columns = userColumns[table];
      const manifest = await readManifest(check.storage, table, day);
      if (!columns || !manifest) continue;
      for (const file of manifest.files) {
        const index = file.users;
        if (!check.everyFile && index && !keys.some(indexTester(index))) continue;
        const { path } = await fetchCached(check.storage, check.cacheDir, file);
        const conditions = [
          `${quoteIdent(columns.user)} IN (${check.userIds.map(quoteLiteral).join(', ') || 'NULL'})`,
        ];
        if (columns.device && check.deviceIds?.length) {
          conditions.push(
            `${quoteIdent(columns.device)} IN (${check.deviceIds.map(quoteLiteral).join(', ')})`,
          );
        }
        const reader = await duck.connection.runAndReadAll(
          `SELECT count(*)::BIGINT FROM read_parquet(${quoteLiteral(path)}) WHERE ${conditions.join(' OR ')}`,
        );
        const rows = Number(reader.getRows()[0]?.[0]);
        if (rows > 0) left.push({ table, day, key: file.key, rows });
      }
    }
    return left;
  } finally {
    duck.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * `--verify`'s check of the cold files: every day `export_runs` holds for `telemetry` and
 * `generations`, read back through {@link checkColdErased}. Files still holding the user are
 * reported; while the erasure waits for `apply-erasures` (`hot-done`) that is expected, and the
 * note says so.
 */
export function coldFilesCheck(
  source: Omit<ColdErasedCheck, 'days' | 'userIds' | 'deviceIds'>,
): ErasureCheck {
  return {
    name: 'cold files',
    async run(ctx, erasure) {
      const userId = requireSubject(erasure);
      const days = await ctx.db
        .selectFrom('export_runs')
        .select(['table_name as table', 'day'])
        .where('state', 'in', ['verified', 'dropped'])
        .orderBy('day')
        .execute();
      const left = await checkColdErased({
        ...source,
        days,
        userIds: [userId],
        deviceIds: erasure.deviceIds,
      });
      return left.map((file) => ({
        check: 'cold files',
        place: `${file.table} ${file.day} ${file.key}`,
        rows: file.rows,
        ...(erasure.status !== 'done' && {
          note: 'waiting for apply-erasures (ERASE_CRON, or `lowburn run apply-erasures`)',
        }),
      }));
    },
  };
}
