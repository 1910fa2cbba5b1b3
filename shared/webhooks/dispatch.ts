import { CompiledQuery } from 'kysely';
import type { WebhookConfig } from '../config/load-config.ts';
import { type Db, preparedStatement } from '../db/create-db.ts';
import type { RedisClient } from '../redis/connections.ts';
import { type EndpointRef, EndpointSlots } from './endpoint-slots.ts';
import { type DueAttempt, type Enqueue, enqueueAttempt } from './queue.ts';

/** What putting deliveries into BullMQ needs: the ledger, the queue, the endpoint slots. */
export interface DispatchDeps {
  db: Db;
  enqueue: Enqueue;
  redis: RedisClient;
  config: { queuePrefix: string; webhooks: Pick<WebhookConfig, 'endpointConcurrency'> };
}

/** The endpoint slots of a deployment (its Redis, prefix and `WEBHOOK_ENDPOINT_CONCURRENCY`). */
export function endpointSlots(deps: Pick<DispatchDeps, 'redis' | 'config'>): EndpointSlots {
  return new EndpointSlots({
    redis: deps.redis,
    prefix: deps.config.queuePrefix,
    cap: deps.config.webhooks.endpointConcurrency,
  });
}

/**
 * Queues the attempts of one endpoint's deliveries that fit in its free slots, in order; the
 * rest stay parked in Postgres (pending, due) for `pullDue` or the dispatcher. The slot is taken
 * before the job is added: a crash between the two leaves a slot without a job until its lease
 * ends, never a job past the cap; an add that fails gives the slot back.
 *
 * @returns the deliveries queued.
 */
export async function dispatchAttempts(
  deps: DispatchDeps,
  endpoint: EndpointRef,
  due: readonly Omit<DueAttempt, keyof EndpointRef>[],
): Promise<number> {
  const slots = endpointSlots(deps);
  const got = new Set(
    await slots.acquire(
      endpoint,
      due.map((d) => d.deliveryId),
    ),
  );
  const { apiKeyId, endpoint: origin } = endpoint;
  await Promise.all(
    due
      .filter((d) => got.has(d.deliveryId))
      .map((d) =>
        enqueueAttempt(deps.enqueue, { ...d, apiKeyId, endpoint: origin }).catch(
          async (error: unknown) => {
            // Not queued (Redis refused the add): the slot goes back at once, not at lease end.
            await slots.release(endpoint, d.deliveryId).catch(() => {});
            throw error;
          },
        ),
      ),
  );
  return got.size;
}

/**
 * Fills an endpoint's free slots with its due parked deliveries: first attempts (of a run)
 * before retries, each group oldest due first. Deliveries that hold a slot (queued or in
 * flight) are skipped. Safe to run anywhere at once: the slot is the lock, and the job id of an
 * attempt makes a second add a no-op.
 *
 * @returns the deliveries queued.
 */
export async function pullDue(
  deps: DispatchDeps,
  endpoint: EndpointRef,
  known?: { held: readonly string[] },
): Promise<number> {
  const slots = endpointSlots(deps);
  const held = new Set(known?.held ?? (await slots.held(endpoint)));
  const free = slots.cap - held.size;
  if (free <= 0) return 0;
  // Deliveries holding a slot can be among the due ones: read past them.
  const rows = await dueParked(deps.db, endpoint, free + held.size);
  const due = rows
    .filter((row) => !held.has(row.id))
    .slice(0, free)
    .map((row) => ({ deliveryId: row.id, run: row.run, attempt: row.run_attempts }));
  if (rows.length < free + held.size) await slots.clearParked(endpoint);
  return dispatchAttempts(deps, endpoint, due);
}

/**
 * What a job does when its attempt ends: gives its slot back and, when deliveries were turned
 * away from the endpoint (its parked flag), fills the free slots with the due ones. Without the
 * flag, the endpoint's only waiting deliveries are retries, which are the dispatcher's: a healthy
 * endpoint's job ends without reading Postgres. (A flag cleared while another delivery is being
 * parked costs that delivery at most one dispatcher period.)
 */
export async function handBackSlot(
  deps: DispatchDeps,
  endpoint: EndpointRef,
  deliveryId: string,
): Promise<void> {
  const { held, parked } = await endpointSlots(deps).state(endpoint, deliveryId);
  if (parked) await pullDue(deps, endpoint, { held });
}

// Prepared once per connection: it runs at the end of many attempts.
const DUE_PARKED_SQL = preparedStatement(
  'webhooks_due_parked',
  `(SELECT id, run, run_attempts FROM webhook_deliveries
    WHERE status = 'pending' AND run_attempts = 0 AND api_key_id = $1 AND endpoint = $2
      AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT $3)
   UNION ALL
   (SELECT id, run, run_attempts FROM webhook_deliveries
    WHERE status = 'pending' AND api_key_id = $1 AND endpoint = $2
      AND next_attempt_at <= now() AND run_attempts > 0
    ORDER BY next_attempt_at LIMIT $3)
   LIMIT $3`,
);

/**
 * An endpoint's due pending deliveries, first attempts first. Two index scans (see migration
 * 0006), and the retries' one runs only when there are fewer than `limit` first attempts due.
 */
async function dueParked(db: Db, endpoint: EndpointRef, limit: number) {
  const { rows } = await db.executeQuery<{ id: string; run: number; run_attempts: number }>(
    CompiledQuery.raw(DUE_PARKED_SQL, [endpoint.apiKeyId, endpoint.endpoint, limit]),
  );
  return rows;
}
