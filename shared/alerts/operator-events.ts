import type { Config } from '../config/load-config.ts';
import type { Db } from '../db/create-db.ts';
import { toStorableJson } from '../json/storable-text.ts';
import type { RedisClient } from '../redis/connections.ts';
import type { SecretKeyring } from '../secrets/secret-keyring.ts';
import { enqueueDelivery } from '../webhooks/enqueue.ts';
import { type OperatorEventType, webhookIdFor } from '../webhooks/events.ts';
import type { Enqueue } from '../webhooks/queue.ts';
import { ensureOperatorKey, OPERATOR_KEY_ID } from './operator-key.ts';

/** What sending an operator event needs: a job's deps. */
export interface OperatorEventDeps {
  db: Db;
  redis: RedisClient;
  enqueue: Enqueue;
  secrets: SecretKeyring;
  config: Pick<Config, 'queuePrefix' | 'webhooks' | 'alerts'>;
}

/** An operator event, in the Standard Webhooks shape `{ type, timestamp, data }`. */
export interface OperatorEvent {
  type: OperatorEventType;
  /**
   * What the event is about, unique per event of its type (`alert/<condition>/<day>`,
   * `digest/<day>`): the delivery id derives from it, so sending twice delivers once.
   */
  subject: string;
  timestamp: Date;
  data: Record<string, unknown>;
}

/**
 * Queues `event` to `ALERT_WEBHOOK_URL` through the webhook delivery, signed with
 * `ALERT_WEBHOOK_SECRET` (by the operator system key). Idempotent: the same subject and type
 * are the same delivery, however many workers or retries send it.
 * @returns the delivery id, or `undefined` when no `ALERT_WEBHOOK_URL` is set (log lines only).
 */
export async function sendOperatorEvent(
  deps: OperatorEventDeps,
  event: OperatorEvent,
): Promise<string | undefined> {
  const target = deps.config.alerts.webhook;
  if (!target) return undefined;
  const apiKeyId = await ensureOperatorKey(deps.db, deps.secrets, target.secret);
  const body = { type: event.type, timestamp: event.timestamp.toISOString(), data: event.data };
  const { id } = await enqueueDelivery(deps, {
    id: webhookIdFor(apiKeyId, event.subject, event.type),
    apiKeyId,
    jobId: event.subject,
    eventType: event.type,
    url: target.url,
    payload: toStorableJson(body),
  });
  return id;
}

export { OPERATOR_KEY_ID };
