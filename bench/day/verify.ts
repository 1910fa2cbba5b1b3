// After the load, check everything (the Outpost-style verification phase): every accepted
// generation has exactly one row, every webhook was delivered once with a valid signature or
// dead-lettered, every accepted ping is stored exactly once.

import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { percentile } from '../support.ts';
import type { ReceivedWebhook } from '../webhook-processes.ts';

export interface GenerationCheck {
  accepted: number;
  /** Accepted with no row, hot or late. */
  lost: number;
  /** Rows beyond the first for one job. */
  duplicated: number;
  failed: number;
}

/**
 * Rows of `ids` in `generations` and `generations_late`. The run's own day is not exported
 * during the run (the export takes days past HOT_RETENTION), so no row of it can be cold yet.
 */
export async function checkGenerations(db: Db, ids: string[]): Promise<GenerationCheck> {
  const { rows } = await sql<{ id: string; n: string; failed: string }>`
    SELECT id, count(*) AS n, count(*) FILTER (WHERE status = 'failed') AS failed FROM (
      SELECT id, status FROM generations WHERE id = ANY(${ids})
      UNION ALL SELECT id, status FROM generations_late WHERE id = ANY(${ids})
    ) rows GROUP BY id`.execute(db);
  return {
    accepted: ids.length,
    lost: ids.length - rows.length,
    duplicated: rows.reduce((n, r) => n + Number(r.n) - 1, 0),
    failed: rows.reduce((n, r) => n + Number(r.failed), 0),
  };
}

export interface WebhookCheck {
  expected: number;
  /** Expected with no delivery in the ledger. */
  lost: number;
  /** Deliveries beyond one per job in the ledger, plus receipts beyond one at the receiver. */
  duplicated: number;
  delivered: number;
  verified: number;
  /** Receipts whose signature did not hold. */
  invalid: number;
  deadLettered: number;
  /** Neither delivered nor dead-lettered yet. */
  pending: number;
  /** Enqueue (ledger row) → 2xx (delivered_at), ms. */
  p50Ms: number;
  p99Ms: number;
}

export async function checkWebhooks(
  db: Db,
  jobIds: string[],
  received: ReceivedWebhook[],
): Promise<WebhookCheck> {
  const { rows } = await sql<{ job_id: string; status: string; ms: number | null }>`
    SELECT job_id, status, extract(epoch FROM delivered_at - created_at) * 1000 AS ms
    FROM webhook_deliveries WHERE job_id = ANY(${jobIds})`.execute(db);
  const perJob = new Map<string, number>();
  for (const r of rows) perJob.set(r.job_id, (perJob.get(r.job_id) ?? 0) + 1);
  const receipts = new Map<string, number>();
  for (const [, jobId, ok] of received) if (ok) receipts.set(jobId, (receipts.get(jobId) ?? 0) + 1);
  const latencies = rows
    .filter((r) => r.status === 'succeeded' && r.ms !== null)
    .map((r) => Number(r.ms))
    .sort((a, b) => a - b);
  const wanted = new Set(jobIds);
  return {
    expected: jobIds.length,
    lost: jobIds.filter((id) => !perJob.has(id)).length,
    duplicated:
      [...perJob.values()].reduce((n, c) => n + c - 1, 0) +
      [...receipts.entries()].filter(([id]) => wanted.has(id)).reduce((n, [, c]) => n + c - 1, 0),
    delivered: rows.filter((r) => r.status === 'succeeded').length,
    verified: [...receipts.keys()].filter((id) => wanted.has(id)).length,
    invalid: received.filter(([, , ok]) => !ok).length,
    deadLettered: rows.filter((r) => r.status === 'dead').length,
    pending: rows.filter((r) => r.status === 'pending' || r.status === 'failed').length,
    p50Ms: Math.round(percentile(latencies, 50)),
    p99Ms: Math.round(percentile(latencies, 99)),
  };
}

export interface PingCheck {
  accepted: number;
  stored: number;
  /**
   * Accepted and not stored: by count, so exact only while `unacknowledged` is 0 (a batch the
   * client gave up on may still have been stored, and would hide a lost one).
   */
  lost: number;
  /** Stored beyond the accepted count: batches answered after the client's timeout. */
  unacknowledged: number;
  /** Stored more than once. */
  duplicated: number;
}

/**
 * The run's pings in Postgres (hot and late; the run's day is not exported during it), told
 * from the previous day's and other runs' by their ids: a UUIDv7 whose third group is 7 and the
 * seed, and whose ping number (the last 8 hex digits) is not negative.
 */
export async function checkPings(db: Db, seed: number, accepted: number): Promise<PingCheck> {
  const group = `7${(seed & 0xfff).toString(16).padStart(3, '0')}`;
  const { rows } = await sql<{ n: string; distinct: string }>`
    SELECT count(*) AS n, count(DISTINCT ping_id) AS distinct FROM (
      SELECT ping_id FROM telemetry UNION ALL SELECT ping_id FROM telemetry_late
    ) p
    WHERE substr(ping_id::text, 15, 4) = ${group} AND substr(ping_id::text, 29, 1) < '8'`.execute(
    db,
  );
  const n = Number(rows[0]?.n ?? 0);
  const distinct = Number(rows[0]?.distinct ?? 0);
  return {
    accepted,
    stored: distinct,
    lost: Math.max(0, accepted - distinct),
    unacknowledged: Math.max(0, distinct - accepted),
    duplicated: n - distinct,
  };
}

export interface ExportCheck {
  /** Table and day of every export run, with its state: `dropped` is exported, verified, gone. */
  runs: { table: string; day: string; state: string; rows: number; bytes: number }[];
  /** Runs that did not end with the partition dropped. */
  unfinished: number;
  /** Cold bytes written per day (all tables). */
  bytesPerDay: Record<string, number>;
}

/** What the exports of the run did (the bench empties `export_runs` before it starts). */
export async function checkExports(db: Db): Promise<ExportCheck> {
  const rows = await db
    .selectFrom('export_runs')
    .select(['table_name', 'day', 'state', 'rows', 'bytes'])
    .orderBy('day')
    .execute();
  const runs = rows.map((r) => ({
    table: r.table_name,
    day: r.day,
    state: r.state,
    rows: Number(r.rows ?? 0),
    bytes: Number(r.bytes ?? 0),
  }));
  const bytesPerDay: Record<string, number> = {};
  for (const r of runs) bytesPerDay[r.day] = (bytesPerDay[r.day] ?? 0) + r.bytes;
  return { runs, unfinished: runs.filter((r) => r.state !== 'dropped').length, bytesPerDay };
}
