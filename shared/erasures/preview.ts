import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import { type ErasureSubject, hotRowTables, subjectRowsByDay } from './hot-rows.ts';

/** What an erasure would remove from the hot tables and ledgers (a dry run). */
export interface ErasurePreview {
  userId: string;
  /** Rows per hot table. */
  rows: Record<string, number>;
  usageRows: number;
  webhookPayloads: number;
  idempotencyKeys: number;
  shadowComparisons: number;
}

/** Counts the subject's hot rows and ledger rows; changes nothing. */
export async function previewErasure(db: Db, subject: ErasureSubject): Promise<ErasurePreview> {
  const rows: Record<string, number> = {};
  for (const { table } of hotRowTables) {
    rows[table] = (await subjectRowsByDay(db, table, subject)).reduce((n, d) => n + d.rows, 0);
  }
  const { rows: counts } = await sql<{
    usage: string;
    deliveries: string;
    keys: string;
    shadows: string;
  }>`
    WITH ids AS (
      SELECT id FROM generations WHERE user_id = ${subject.userId}
      UNION SELECT id FROM generations_late WHERE user_id = ${subject.userId})
    SELECT
      (SELECT count(*) FROM usage_daily WHERE user_id = ${subject.userId}) AS usage,
      (SELECT count(*) FROM webhook_deliveries WHERE job_id IN (SELECT id FROM ids)
         AND NOT (payload ? 'erased')) AS deliveries,
      (SELECT count(*) FROM idempotency_keys WHERE job_id IN (SELECT id FROM ids)) AS keys,
      (SELECT count(*) FROM shadow_comparisons WHERE generation_id IN (SELECT id FROM ids)) AS shadows
  `.execute(db);
  const c = counts[0];
  return {
    userId: subject.userId,
    rows,
    usageRows: Number(c?.usage ?? 0),
    webhookPayloads: Number(c?.deliveries ?? 0),
    idempotencyKeys: Number(c?.keys ?? 0),
    shadowComparisons: Number(c?.shadows ?? 0),
  };
}
