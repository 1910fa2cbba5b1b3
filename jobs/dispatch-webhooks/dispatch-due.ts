import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { type DispatchDeps, endpointSlots, pullDue } from '../../shared/webhooks/dispatch.ts';
import type { EndpointRef } from '../../shared/webhooks/endpoint-slots.ts';

/** What one dispatcher run did, and how far behind the endpoints are. */
export interface DispatchResult {
  /** Endpoints that had due deliveries. */
  endpoints: number;
  /** Deliveries queued into their endpoint's free slots. */
  queued: number;
  /** Pending deliveries of deleted API keys, ended `failed` (nothing can sign them). */
  orphans: number;
  /**
   * Age (s) of the oldest due delivery that no slot holds yet (waiting in Postgres), the worst
   * endpoint of each kind: `healthy` ones, and `failing` ones (every attempt failed since their
   * last success). 0 when none waits.
   */
  lagSeconds: { healthy: number; failing: number };
}

/** Endpoints looked at per run, at most; the rest (a fleet with more) wait for the next run. */
export const MAX_ENDPOINTS = 1_000;

/**
 * Queues every endpoint's due parked deliveries into its free slots (`pullDue`: first attempts
 * before retries) and measures the lag. Each step reads an index (migration 0006): the
 * endpoints by a skip scan of the pending index, one row per endpoint, so a backlog of 100,000
 * deliveries to one endpoint costs what one delivery does.
 */
export async function dispatchDue(deps: DispatchDeps): Promise<DispatchResult> {
  const orphans = await failOrphans(deps.db);
  const due = await dueEndpoints(deps.db);
  const slots = endpointSlots(deps);
  const lagSeconds = { healthy: 0, failing: 0 };
  let queued = 0;
  for (const endpoint of due) {
    queued += await pullDue(deps, endpoint);
    const held = await slots.held(endpoint);
    const oldest = await oldestWaiting(deps.db, endpoint, held);
    if (!oldest) continue;
    const kind = endpoint.failing ? 'failing' : 'healthy';
    lagSeconds[kind] = Math.max(lagSeconds[kind], (Date.now() - oldest.getTime()) / 1000);
  }
  return { endpoints: due.length, queued, orphans, lagSeconds };
}

/** Endpoints whose oldest pending delivery is due, with whether they are failing. */
async function dueEndpoints(db: Db): Promise<(EndpointRef & { failing: boolean })[]> {
  const { rows } = await sql<{ api_key_id: string; endpoint: string; failing: boolean }>`
    WITH RECURSIVE e AS (
      (SELECT api_key_id, endpoint FROM webhook_deliveries
       WHERE status = 'pending' AND api_key_id IS NOT NULL
       ORDER BY api_key_id, endpoint LIMIT 1)
      UNION ALL
      SELECT n.api_key_id, n.endpoint FROM e CROSS JOIN LATERAL (
        SELECT w.api_key_id, w.endpoint FROM webhook_deliveries w
        WHERE w.status = 'pending' AND (w.api_key_id, w.endpoint) > (e.api_key_id, e.endpoint)
        ORDER BY w.api_key_id, w.endpoint LIMIT 1) n
    )
    SELECT e.api_key_id, e.endpoint, h.failing_since IS NOT NULL AS failing
    FROM e
    CROSS JOIN LATERAL (
      SELECT min(w.next_attempt_at) AS oldest FROM webhook_deliveries w
      WHERE w.status = 'pending' AND w.api_key_id = e.api_key_id AND w.endpoint = e.endpoint
    ) d
    LEFT JOIN webhook_endpoints h ON h.api_key_id = e.api_key_id AND h.endpoint = e.endpoint
    WHERE d.oldest <= now()
    LIMIT ${MAX_ENDPOINTS}`.execute(db);
  return rows.map((row) => ({
    apiKeyId: row.api_key_id,
    endpoint: row.endpoint,
    failing: row.failing,
  }));
}

/** When the endpoint's oldest due delivery that holds no slot became due. */
async function oldestWaiting(
  db: Db,
  endpoint: EndpointRef,
  held: readonly string[],
): Promise<Date | undefined> {
  const { rows } = await sql<{ next_attempt_at: Date }>`
    SELECT next_attempt_at FROM webhook_deliveries
    WHERE status = 'pending' AND api_key_id = ${endpoint.apiKeyId}
      AND endpoint = ${endpoint.endpoint} AND next_attempt_at <= now()
      AND NOT (id = ANY(${[...held]}::text[]))
    ORDER BY next_attempt_at LIMIT 1`.execute(db);
  return rows[0]?.next_attempt_at;
}

/**
 * Ends the pending deliveries whose API key was deleted (the key's id is set to NULL): there is
 * no secret to sign them with, and no endpoint to queue them under.
 */
async function failOrphans(db: Db): Promise<number> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({
      status: 'failed',
      last_error: 'not attempted: the API key was deleted, so there is no secret to sign with',
      next_attempt_at: null,
      updated_at: sql<Date>`now()`,
    })
    .where('status', '=', 'pending')
    .where('api_key_id', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
