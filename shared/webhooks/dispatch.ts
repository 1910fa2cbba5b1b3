import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { WebhookConfig } from '../config/load-config.ts';
import type { Db } from '../db/create-db.ts';
import { type EndpointRef, EndpointSlots } from './endpoint-slots.ts';
import { type DueAttempt, type Enqueue, enqueueAttempt } from './queue.ts';

/** What putting deliveries into BullMQ needs: the ledger, the queue, the endpoint slots. */
export interface DispatchDeps {
  db: Db;
  enqueue: Enqueue;
  redis: Redis;
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
export async function pullDue(deps: DispatchDeps, endpoint: EndpointRef): Promise<number> {
  const slots = endpointSlots(deps);
  const held = new Set(await slots.held(endpoint));
  const free = slots.cap - held.size;
  if (free <= 0) return 0;
  // Deliveries holding a slot can be among the due ones: read past them.
  const rows = await dueParked(deps.db, endpoint, free + held.size);
  const due = rows
    .filter((row) => !held.has(row.id))
    .slice(0, free)
    .map((row) => ({ deliveryId: row.id, run: row.run, attempt: row.run_attempts }));
  return dispatchAttempts(deps, endpoint, due);
}

/**
 * An endpoint's due pending deliveries, first attempts first. Two index scans (see migration
 * 0006), and the retries' one runs only when there are fewer than `limit` first attempts due.
 */
async function dueParked(db: Db, endpoint: EndpointRef, limit: number) {
  const { rows } = await sql<{ id: string; run: number; run_attempts: number }>`
    (SELECT id, run, run_attempts FROM webhook_deliveries
     WHERE status = 'pending' AND run_attempts = 0 AND api_key_id = ${endpoint.apiKeyId}
       AND endpoint = ${endpoint.endpoint} AND next_attempt_at <= now()
     ORDER BY next_attempt_at LIMIT ${limit})
    UNION ALL
    (SELECT id, run, run_attempts FROM webhook_deliveries
     WHERE status = 'pending' AND api_key_id = ${endpoint.apiKeyId}
       AND endpoint = ${endpoint.endpoint} AND next_attempt_at <= now() AND run_attempts > 0
     ORDER BY next_attempt_at LIMIT ${limit})
    LIMIT ${limit}`.execute(db);
  return rows;
}
