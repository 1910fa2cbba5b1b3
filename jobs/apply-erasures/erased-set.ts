import type { DuckDBConnection } from '@duckdb/node-api';
import type { ManifestFile } from '../../shared/cold/layout.ts';
import {
  deviceKey,
  indexTester,
  userColumns,
  userIndexSchema,
  userKey,
} from '../../shared/cold/user-index.ts';
import type { Db } from '../../shared/db/create-db.ts';
import { quoteIdent, quoteLiteral } from '../../shared/duckdb/duckdb.ts';

/** One erasure of the batch: whom it erases (in clear while it is open) and its keyed hash. */
export interface BatchErasure {
  id: string;
  userId: string;
  userHash: string;
  deviceIds: string[];
}

/** The erasures one `apply-erasures` run applies together: every one whose hot side is done. */
export interface ErasedSet {
  erasures: BatchErasure[];
  /** Index keys (`u:<id>`, `d:<id>`) of every erased user and device. */
  keys: string[];
}

export async function loadErasedSet(db: Db): Promise<ErasedSet> {
  const rows = await db
    .selectFrom('erasures')
    .select(['id', 'user_id', 'user_hash', 'device_ids'])
    .where('status', '=', 'hot-done')
    .orderBy('requested_at')
    .execute();
  const erasures = rows.map((r) => ({
    id: r.id,
    // The ledger's check keeps user_id set while status is not `done`.
    userId: r.user_id ?? '',
    userHash: r.user_hash,
    deviceIds: r.device_ids,
  }));
  const keys = erasures.flatMap((e) => [userKey(e.userId), ...e.deviceIds.map(deviceKey)]);
  return { erasures, keys: [...new Set(keys)] };
}

/**
 * Whether a file may hold an erased user or device: its index says so, or it has none (a day
 * exported before the index existed), in which case the rewrite's count scan decides.
 */
export function fileMayHold(file: ManifestFile, set: ErasedSet): boolean {
  if (!file.users) return true;
  return set.keys.some(indexTester(userIndexSchema.parse(file.users)));
}

/**
 * Loads the set into DuckDB as `erased_users(erasure, id)` and `erased_devices(erasure, id)`,
 * replacing any earlier copy.
 */
export async function loadIntoDuckDb(duck: DuckDBConnection, set: ErasedSet): Promise<void> {
  const users = set.erasures.map((e) => `(${quoteLiteral(e.id)}, ${quoteLiteral(e.userId)})`);
  const devices = set.erasures.flatMap((e) =>
    e.deviceIds.map((d) => `(${quoteLiteral(e.id)}, ${quoteLiteral(d)})`),
  );
  await duck.run(`
    CREATE OR REPLACE TEMP TABLE erased_users (erasure VARCHAR, id VARCHAR);
    CREATE OR REPLACE TEMP TABLE erased_devices (erasure VARCHAR, id VARCHAR);`);
  if (users.length > 0) await duck.run(`INSERT INTO erased_users VALUES ${users.join(', ')}`);
  if (devices.length > 0) {
    await duck.run(`INSERT INTO erased_devices VALUES ${devices.join(', ')}`);
  }
}

/**
 * The DuckDB condition true for a row of `table` that an erasure of the set removes; never
 * NULL (a row without a user id is kept unless its device is erased).
 */
export function erasedRowSql(table: string): string {
  const columns = userColumns[table];
  if (!columns) throw new Error(`no user column known for cold table ${table}`);
  const user = `coalesce(${quoteIdent(columns.user)} IN (SELECT id FROM erased_users), false)`;
  if (!columns.device) return `(${user})`;
  return `(${user} OR coalesce(${quoteIdent(columns.device)} IN (SELECT id FROM erased_devices), false))`;
}

/**
 * One scan of `source`: the rows any erasure of the set removes (`total`), and how many each
 * erasure matches (`e0`, `e1`, … in the set's order; a row can match two erasures).
 */
export function removedCountsSql(table: string, set: ErasedSet, source: string): string {
  const columns = userColumns[table];
  if (!columns) throw new Error(`no user column known for cold table ${table}`);
  const per = set.erasures.map((e, i) => {
    const conditions = [`${quoteIdent(columns.user)} = ${quoteLiteral(e.userId)}`];
    if (columns.device && e.deviceIds.length > 0) {
      conditions.push(
        `${quoteIdent(columns.device)} IN (${e.deviceIds.map(quoteLiteral).join(', ')})`,
      );
    }
    return `count(*) FILTER (WHERE ${conditions.join(' OR ')})::BIGINT AS e${i}`;
  });
  return `SELECT count(*) FILTER (WHERE ${erasedRowSql(table)})::BIGINT AS total${per
    .map((p) => `, ${p}`)
    .join('')} FROM ${source}`;
}
