import type { Db } from '../db/create-db.ts';
import {
  buildWebhookEvent,
  serializeEvent,
  type WebhookEventInput,
  webhookIdFor,
} from './events.ts';
import { insertDelivery } from './ledger.ts';
import { type Enqueue, enqueueDeliveryRun } from './queue.ts';

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
  /** False when that delivery had already ended (delivered, dead …): nothing was queued. */
  queued: boolean;
}

/**
 * Records a webhook delivery (`webhook_deliveries`, status `pending`) and queues its first
 * attempt. Idempotent, for a caller that runs at least once: the same key, job and event type
 * always map to the same delivery, and its job id to the same BullMQ job, so calling this again
 * after a crash neither duplicates the row nor the delivery. Postgres is written first: a crash
 * before the job is added leaves a pending row that the caller's retry (or a replay) queues.
 *
 * @example
 * ```ts
 * await enqueueWebhook(deps, {
 *   apiKeyId: payload.apiKeyId,
 *   jobId: job.id,
 *   url: payload.webhookUrl,
 *   event: { type: 'generation.completed', result, metadata: payload.metadata, createdAt: new Date(job.timestamp) },
 * });
 * ```
 */
export async function enqueueWebhook(
  deps: { db: Db; enqueue: Enqueue },
  input: EnqueueWebhookInput,
): Promise<EnqueuedWebhook> {
  const id = webhookIdFor(input.apiKeyId, input.jobId, input.event.type);
  const event = buildWebhookEvent(input.jobId, input.event);
  const inserted = await insertDelivery(deps.db, {
    id,
    apiKeyId: input.apiKeyId,
    jobId: input.jobId,
    eventType: event.type,
    url: input.url,
    payload: serializeEvent(event),
  });
  let run = inserted;
  if (run === undefined) {
    const existing = await deps.db
      .selectFrom('webhook_deliveries')
      .select(['status', 'run'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    if (existing.status !== 'pending') return { id, created: false, queued: false };
    run = existing.run;
  }
  await enqueueDeliveryRun(deps.enqueue, id, run);
  return { id, created: inserted !== undefined, queued: true };
}
