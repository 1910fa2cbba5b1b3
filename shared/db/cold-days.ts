import { sql } from 'kysely';
import type { Db } from './create-db.ts';
import { ensureDayPartition, type PartitionedTable } from './partitions.ts';

/**
 * Where rows go when their day was already handed to cold storage: never into the day's
 * partition (it is being exported, or is gone), but into this table, which the next export
 * drains into an additional part.
 */
export const lateTables = {
  telemetry: 'telemetry_late',
  generations: 'generations_late',
} as const satisfies Record<PartitionedTable, string>;

// Advisory lock keys (classid, objid): one class per table, the day number as the object.
const lockClass: Record<PartitionedTable, number> = {
  telemetry: 0x6c62_0001,
  generations: 0x6c62_0002,
};
const dayNumber = (day: string) => Math.round(Date.parse(`${day}T00:00:00Z`) / 86_400_000);

/**
 * For a writer, inside its transaction: waits while an export is claiming one of `days`, then
 * returns the ones already claimed, whose rows belong in the late table. The shared locks are
 * held until the writer commits, so an export never claims a day while a write to its
 * partition is still in flight — the export's count sees every row the partition will ever get.
 */
export async function coldDaysForWrite(
  trx: Db,
  table: PartitionedTable,
  days: readonly string[],
): Promise<Set<string>> {
  if (days.length === 0) return new Set();
  const numbers = [...new Set(days.map(dayNumber))].sort((a, b) => a - b);
  await sql`SELECT pg_advisory_xact_lock_shared(${lockClass[table]}, d)
    FROM unnest(${numbers}::int[]) AS d ORDER BY d`.execute(trx);
  const rows = await trx
    .selectFrom('export_runs')
    .select('day')
    .where('table_name', '=', table)
    .where('day', 'in', [...new Set(days)])
    .execute();
  return new Set(rows.map((r) => r.day));
}

/**
 * Hands a day to the cold export: once this returns, no write to the day's partition is in
 * flight and every later write of that day goes to the late table. Returns `false` when the day
 * was already claimed (a rerun).
 */
export async function claimDayForExport(
  db: Db,
  table: PartitionedTable,
  day: string,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${lockClass[table]}, ${dayNumber(day)}::int)`.execute(
      trx,
    );
    const inserted = await trx
      .insertInto('export_runs')
      .values({ table_name: table, day })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  });
}

/**
 * A writer's transaction for rows of `days`: the days' partitions exist (unless exported), and
 * `write` gets the days already handed to cold storage, whose rows belong in the late table —
 * decided under the export's per-day lock (see `coldDaysForWrite`).
 */
export async function writeByDay<T>(
  db: Db,
  table: PartitionedTable,
  days: readonly string[],
  write: (trx: Db, coldDays: Set<string>) => Promise<T>,
): Promise<T> {
  for (const day of new Set(days)) await ensureDayPartition(db, table, day);
  return db
    .transaction()
    .execute(async (trx) => write(trx, await coldDaysForWrite(trx, table, days)));
}
