import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import type { DeliveryStatus } from '../db/database.ts';

export interface ReplayedDelivery {
  /** The delivery id: the `webhook-id` the replay sends again. */
  id: string;
  /** The new run; its first attempt's job is `<id>.r<run>`. */
  run: number;
  /** The status the delivery had before the replay. */
  previousStatus: DeliveryStatus;
}

const PAGE = 500;

/**
 * Starts a new run for each delivery: status `pending`, a fresh schedule from its first
 * (immediate) attempt, the same `webhook-id` and body. Attempts so far stay in the ledger and
 * the attempt numbers carry on. A job still queued for an older run finds itself stale and sends
 * nothing, so replaying a pending delivery restarts it rather than doubling it. Replaying a
 * `disabled` delivery re-enables its URL and its endpoint for its key: the operator is saying
 * the receiver is back.
 *
 * Only Postgres is written: the replayed deliveries are due now and `dispatch-webhooks` queues
 * them within a period, at most `WEBHOOK_ENDPOINT_CONCURRENCY` at a time per endpoint, so
 * replaying a day of dead letters never floods Redis or the receiver.
 */
export async function replayDeliveries(
  deps: { db: Db },
  ids: readonly string[],
): Promise<ReplayedDelivery[]> {
  if (ids.length === 0) return [];
  const result = await sql<{ id: string; run: number; previous_status: DeliveryStatus }>`
    WITH old AS (
      SELECT id, status FROM webhook_deliveries WHERE id = ANY(${[...ids]}::text[]) FOR UPDATE
    ), d AS (
      UPDATE webhook_deliveries w
      SET status = 'pending', run = w.run + 1, run_attempts = 0, next_attempt_at = now(),
          updated_at = now()
      FROM old
      WHERE w.id = old.id
      RETURNING w.id, w.run, w.api_key_id, w.url, w.endpoint, w.created_at,
                old.status AS previous_status
    ), enabled AS (
      DELETE FROM webhook_disabled_urls u
      USING d
      WHERE d.previous_status = 'disabled' AND u.api_key_id = d.api_key_id AND u.url = d.url
    ), revived AS (
      UPDATE webhook_endpoints e SET disabled_at = NULL, failing_since = NULL
      FROM (SELECT DISTINCT api_key_id, endpoint FROM d WHERE previous_status = 'disabled') x
      WHERE e.api_key_id = x.api_key_id AND e.endpoint = x.endpoint
    )
    SELECT id, run, previous_status FROM d ORDER BY created_at, id`.execute(deps.db);
  return result.rows.map((row) => ({
    id: row.id,
    run: row.run,
    previousStatus: row.previous_status,
  }));
}

/** Which deliveries a bulk replay takes: every one with `status` created at or after `since`. */
export interface ReplayFilter {
  status: DeliveryStatus;
  since: Date;
}

/**
 * Replays every delivery matching `filter`, oldest first, a page at a time (each page one
 * statement), so a large backlog neither holds one long transaction nor loads every id at once.
 */
export async function replayMatching(
  deps: { db: Db },
  filter: ReplayFilter,
  onPage?: (replayed: ReplayedDelivery[]) => void,
): Promise<number> {
  let after: { createdAt: Date; id: string } | undefined;
  let total = 0;
  for (;;) {
    const page = await deps.db
      .selectFrom('webhook_deliveries')
      .select(['id', 'created_at'])
      .where('status', '=', filter.status)
      .where('created_at', '>=', filter.since)
      .$if(after !== undefined, (qb) =>
        qb.where((eb) =>
          eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after!.createdAt, after!.id)),
        ),
      )
      .orderBy('created_at')
      .orderBy('id')
      .limit(PAGE)
      .execute();
    const last = page.at(-1);
    if (!last) return total;
    const replayed = await replayDeliveries(
      deps,
      page.map((row) => row.id),
    );
    total += replayed.length;
    onPage?.(replayed);
    after = { createdAt: last.created_at, id: last.id };
  }
}
