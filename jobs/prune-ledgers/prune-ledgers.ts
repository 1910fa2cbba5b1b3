import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';

/** Rows one DELETE takes at most: short locks, a bounded transaction, cascades included. */
export const PRUNE_BATCH_SIZE = 5_000;

export interface PruneLedgersOptions {
  db: Db;
  /** Finished deliveries whose last change is older than this are deleted. */
  webhookRetentionMs: number;
  /** @defaultValue {@link PRUNE_BATCH_SIZE} */
  batchSize?: number;
  /**
   * No new round of statements starts after this long; one round (a statement per ledger) always
   * runs, so every run makes progress. What is left waits for the next run.
   */
  budgetMs: number;
  /** Stops before the next statement (timeout, worker shutdown). */
  signal?: AbortSignal | undefined;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

export interface PruneLedgersResult {
  /** Webhook deliveries deleted; their attempts went with them (`ON DELETE CASCADE`). */
  deliveries: number;
  /** Expired `Idempotency-Key` rows deleted. */
  idempotencyKeys: number;
  /** DELETE statements run. */
  statements: number;
  /** False when the budget or the signal ended the run with rows left to delete. */
  done: boolean;
}

/**
 * Deletes what the ledgers no longer need, `batchSize` rows per statement, one statement per
 * ledger in turn until both are done or the budget is spent:
 * - webhook deliveries in a finished status (`succeeded`, `failed`, `dead`, `disabled`) last
 *   changed before now − `webhookRetentionMs`, with their attempts. A pending delivery — queued,
 *   sleeping between attempts, in flight — is never deleted, however old. Rows another
 *   transaction holds (a replay, an attempt being recorded) are skipped, never waited for;
 * - `idempotency_keys` rows past `expires_at`, which the API would only overwrite anyway.
 *
 * Safe to run concurrently with itself and with the fleet; a crash loses nothing (every
 * statement commits on its own, and a rerun picks up where it stopped).
 */
export async function pruneLedgers(options: PruneLedgersOptions): Promise<PruneLedgersResult> {
  const { db } = options;
  const now = (options.now ?? (() => new Date()))();
  const batchSize = options.batchSize ?? PRUNE_BATCH_SIZE;
  const deadline = performance.now() + options.budgetMs;
  const result: PruneLedgersResult = {
    deliveries: 0,
    idempotencyKeys: 0,
    statements: 0,
    done: false,
  };
  const cutoff = new Date(now.getTime() - options.webhookRetentionMs);
  const ledgers = new Map<'deliveries' | 'idempotencyKeys', RawBuilder<unknown>>([
    ['deliveries', deleteFinishedDeliveries(cutoff, batchSize)],
    ['idempotencyKeys', deleteExpiredIdempotencyKeys(now, batchSize)],
  ]);
  // In turn rather than one after the other: a backlog in one ledger must not starve the other.
  while (ledgers.size > 0) {
    for (const [ledger, statement] of ledgers) {
      if (options.signal?.aborted) return result;
      const deleted = Number((await statement.execute(db)).numAffectedRows ?? 0n);
      result.statements++;
      result[ledger] += deleted;
      if (deleted < batchSize) ledgers.delete(ledger);
    }
    if (performance.now() >= deadline) break;
  }
  result.done = ledgers.size === 0;
  return result;
}

/**
 * One batch of finished deliveries, oldest change first. The status list is the partial index's
 * predicate (migration 0005) word for word, so the planner uses it. `FOR UPDATE SKIP LOCKED`:
 * a row a replay holds is left alone, and a row a replay turned back into `pending` after this
 * statement's snapshot is re-checked under the lock and left alone too.
 */
export function deleteFinishedDeliveries(cutoff: Date, limit: number): RawBuilder<unknown> {
  return sql`
    WITH doomed AS (
      SELECT id FROM webhook_deliveries
      WHERE status IN ('succeeded', 'failed', 'dead', 'disabled') AND updated_at < ${cutoff}
      ORDER BY updated_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    DELETE FROM webhook_deliveries d USING doomed WHERE d.id = doomed.id`;
}

/**
 * One batch of expired idempotency keys. A request taking an expired key over at the same moment
 * either locked it first (and made it live again: skipped) or waits and inserts it anew.
 */
export function deleteExpiredIdempotencyKeys(now: Date, limit: number): RawBuilder<unknown> {
  return sql`
    WITH doomed AS (
      SELECT api_key_id, key FROM idempotency_keys
      WHERE expires_at < ${now}
      ORDER BY expires_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    DELETE FROM idempotency_keys k USING doomed
    WHERE k.api_key_id = doomed.api_key_id AND k.key = doomed.key`;
}
