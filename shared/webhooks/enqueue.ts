import { insertDelivery, type NewDelivery } from './delivery-insert.ts';
import { type DispatchDeps, dispatchAttempts } from './dispatch.ts';
import {
  buildWebhookEvent,
  serializeEvent,
  type WebhookEventInput,
  webhookIdFor,
} from './events.ts';

export interface EnqueueWebhookInput {
  /** The API key whose job this is: its `whsec_` secret signs every attempt. */
  apiKeyId: string;
  /** The generation's job id (the event's `data.jobId`). */
  jobId: string;
  /** The caller's webhook URL, exactly as given; checked at connect time, not here. */
  url: string;
  event: WebhookEventInput;
}

export interface EnqueuedWebhook {
  /** The delivery id, sent as `webhook-id` on every attempt and replay. */
  id: string;
  /** False when this event already had a delivery (a retried generation). */
  created: boolean;
  /**
   * False when that delivery had already ended (delivered, dead …): nothing will be sent. True
   * when it is pending: queued now, or parked in Postgres until its endpoint has a free slot.
   */
  queued: boolean;
}

/**
 * Records a webhook delivery (`webhook_deliveries`, status `pending`) and, when its endpoint (key
 * and URL origin) has a free slot, queues its first attempt at once; otherwise the delivery waits
 * in Postgres, parked, until a slot frees (`pullDue`, the `dispatch-webhooks` job). Idempotent,
 * for a caller that runs at least once: the same key, job and event type always map to the same
 * delivery, and its attempt to the same BullMQ job id, so calling this again after a crash
 * neither duplicates the row nor the delivery. Postgres is written first: a crash before the job
 * is added leaves a pending row that the caller's retry or the dispatcher queues.
 *
 * @example
 * ```ts
 * await enqueueWebhook(ctx.deps, {
 *   apiKeyId: payload.apiKeyId,
 *   jobId: job.id,
 *   url: payload.webhookUrl,
 *   event: { type: 'generation.completed', result, metadata: payload.metadata, createdAt: new Date(job.timestamp) },
 * });
 * ```
 */
export async function enqueueWebhook(
  deps: DispatchDeps,
  input: EnqueueWebhookInput,
): Promise<EnqueuedWebhook> {
  const event = buildWebhookEvent(input.jobId, input.event);
  return enqueueDelivery(deps, {
    id: webhookIdFor(input.apiKeyId, input.jobId, input.event.type),
    apiKeyId: input.apiKeyId,
    jobId: input.jobId,
    eventType: event.type,
    url: input.url,
    payload: serializeEvent(event),
  });
}

/**
 * Records a delivery of an event already built and serialised, and queues its first attempt
 * when its endpoint has a free slot: what {@link enqueueWebhook} does for a generation's event,
 * for any event (the operator alerts of shared/alerts). Idempotent by `delivery.id`, which the
 * caller derives from what the event is about, never from the clock.
 */
export async function enqueueDelivery(
  deps: DispatchDeps,
  delivery: NewDelivery,
): Promise<EnqueuedWebhook> {
  const { id, apiKeyId } = delivery;
  const inserted = await insertDelivery(deps.db, delivery);
  if (inserted) {
    const endpoint = { apiKeyId, endpoint: inserted.endpoint };
    await dispatchAttempts(deps, endpoint, [{ deliveryId: id, run: inserted.run, attempt: 0 }]);
    return { id, created: true, queued: true };
  }
  const existing = await deps.db
    .selectFrom('webhook_deliveries')
    .select(['status', 'run', 'run_attempts', 'endpoint', 'next_attempt_at'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  if (existing.status !== 'pending') return { id, created: false, queued: false };
  // A retried caller: queue the attempt again if it is due (a no-op when its job exists); a
  // retry waiting for its time is the dispatcher's.
  if (existing.next_attempt_at && existing.next_attempt_at.getTime() <= Date.now()) {
    const endpoint = { apiKeyId, endpoint: existing.endpoint };
    const due = { deliveryId: id, run: existing.run, attempt: existing.run_attempts };
    await dispatchAttempts(deps, endpoint, [due]);
  }
  return { id, created: false, queued: true };
}
