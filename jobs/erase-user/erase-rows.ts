import { sql } from 'kysely';
import { coldDaysForWrite } from '../../shared/db/cold-days.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { ExportState } from '../../shared/db/database.ts';
import {
  dayColumn,
  dayRange,
  type ErasureSubject,
  type HotRowTable,
  hotRowTables,
  isLateTable,
  subjectRows,
  subjectRowsByDay,
} from '../../shared/erasures/hot-rows.ts';

/** Rows left in a day partition the export had already claimed: its files hold them. */
export interface FrozenDay {
  table: HotRowTable;
  day: string;
  rows: number;
  /** The export's state: before `verified` the day's manifest does not name its files yet. */
  exportState: ExportState;
}

export interface RowsErased {
  /** Rows deleted per table. */
  deleted: Record<string, number>;
  frozen: FrozenDay[];
  /** The ids of the user's generations (all of them, frozen ones included): their job ids. */
  generationIds: string[];
}

/**
 * Inside the erasure's transaction: deletes the subject's rows from every hot table. A day
 * partition is deleted from only while the export has not claimed it — under the export's
 * per-day lock (shared), so no export claims it meanwhile; a claimed partition is frozen (the
 * export counts it against its files, and drops it whole), so its rows are left and reported:
 * they are in the day's cold files, the cold side's business. Late tables are always deleted
 * from (the export's late pass moves rows out under a row lock, so each row is either deleted
 * here or already in a cold part).
 */
export async function eraseRows(trx: Db, subject: ErasureSubject): Promise<RowsErased> {
  const generationIds = (
    await sql<{ id: string }>`
      SELECT id FROM generations WHERE user_id = ${subject.userId}
      UNION SELECT id FROM generations_late WHERE user_id = ${subject.userId}`.execute(trx)
  ).rows.map((r) => r.id);

  const deleted: Record<string, number> = {};
  const frozen: FrozenDay[] = [];
  for (const { table, partitioned } of hotRowTables) {
    if (isLateTable(table)) {
      const result = await trx
        .deleteFrom(table)
        .where(subjectRows(table, subject))
        .executeTakeFirst();
      deleted[table] = Number(result.numDeletedRows);
      continue;
    }
    const days = await subjectRowsByDay(trx, table, subject);
    const claimed = await coldDaysForWrite(
      trx,
      partitioned,
      days.map((d) => d.day),
    );
    let n = 0;
    const column = sql.ref(dayColumn(table));
    for (const { day, rows } of days) {
      if (claimed.has(day)) {
        frozen.push({ table, day, rows, exportState: await exportState(trx, partitioned, day) });
        continue;
      }
      const { from, to } = dayRange(day);
      const result = await sql`DELETE FROM ${sql.table(table)}
        WHERE ${column} >= ${from}::timestamptz AND ${column} < ${to}::timestamptz
          AND ${subjectRows(table, subject)}`.execute(trx);
      n += Number(result.numAffectedRows ?? 0n);
    }
    deleted[table] = n;
  }
  return { deleted, frozen, generationIds };
}

async function exportState(trx: Db, table: string, day: string): Promise<ExportState> {
  const row = await trx
    .selectFrom('export_runs')
    .select('state')
    .where('table_name', '=', table)
    .where('day', '=', day)
    .executeTakeFirst();
  return row?.state ?? 'pending';
}

/** Frozen rows whose files the day's manifest does not name yet: the cold side could miss them. */
export const unmanifested = (frozen: readonly FrozenDay[]) =>
  frozen.filter((f) => f.exportState !== 'verified' && f.exportState !== 'dropped');

export interface LedgersErased {
  webhookPayloads: number;
  idempotencyKeys: number;
  shadowComparisons: number;
}

/**
 * Inside the erasure's transaction: blanks the payloads of the generations' webhook deliveries
 * (the delivery row keeps its status, attempts and times: the ledger's bookkeeping), removes
 * their idempotency records and shadow comparisons (which hold a frontier answer to their
 * prompt).
 */
export async function eraseLedgers(
  trx: Db,
  generationIds: readonly string[],
): Promise<LedgersErased> {
  if (generationIds.length === 0) {
    return { webhookPayloads: 0, idempotencyKeys: 0, shadowComparisons: 0 };
  }
  const ids = [...generationIds];
  const blanked = await sql`UPDATE webhook_deliveries
    SET payload = jsonb_build_object('type', payload -> 'type', 'erased', true), updated_at = now()
    WHERE job_id = ANY(${ids}::text[]) AND NOT (payload ? 'erased')`.execute(trx);
  const keys = await trx
    .deleteFrom('idempotency_keys')
    .where(sql<boolean>`job_id = ANY(${ids}::text[])`)
    .executeTakeFirst();
  const shadows = await trx
    .deleteFrom('shadow_comparisons')
    .where(sql<boolean>`generation_id = ANY(${ids}::text[])`)
    .executeTakeFirst();
  return {
    webhookPayloads: Number(blanked.numAffectedRows ?? 0n),
    idempotencyKeys: Number(keys.numDeletedRows),
    shadowComparisons: Number(shadows.numDeletedRows),
  };
}
