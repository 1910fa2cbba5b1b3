import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import type { DeliveryStatus } from '../db/database.ts';
import { type Enqueue, enqueueDeliveryRun } from './queue.ts';

export interface ReplayedDelivery {
  /** The delivery id: the `webhook-id` the replay sends again. */
  id: string;
  /** The new run; its job is `<id>.r<run>`. */
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
 * `disabled` delivery re-enables its URL for its key: the operator is saying the receiver is back.
 *
 * Postgres is written before the jobs are added; if adding fails (Redis down) the deliveries are
 * left pending without a job, and replaying them again queues them.
 */
export async function replayDeliveries(
  deps: { db: Db; enqueue: Enqueue },
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
      RETURNING w.id, w.run, w.api_key_id, w.url, w.created_at, old.status AS previous_status
    ), enabled AS (
      DELETE FROM webhook_disabled_urls u
      USING d
      WHERE d.previous_status = 'disabled' AND u.api_key_id = d.api_key_id AND u.url = d.url
    )
    SELECT id, run, previous_status FROM d ORDER BY created_at, id`.execute(deps.db);
  const replayed = result.rows.map((row) => ({
    id: row.id,
    run: row.run,
    previousStatus: row.previous_status,
  }));
  await Promise.all(replayed.map((r) => enqueueDeliveryRun(deps.enqueue, r.id, r.run)));
  return replayed;
}

/** Which deliveries a bulk replay takes: every one with `status` created at or after `since`. */
export interface ReplayFilter {
  status: DeliveryStatus;
  since: Date;
}

/**
 * Replays every delivery matching `filter`, oldest first, a page at a time (each page one
 * statement, then its jobs), so a large backlog neither holds one long transaction nor loads
 * every id at once.
 */
export async function replayMatching(
  deps: { db: Db; enqueue: Enqueue },
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
