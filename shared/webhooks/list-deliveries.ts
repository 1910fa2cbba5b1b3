import type { Db } from '../db/create-db.ts';
import type { DeliveryStatus } from '../db/database.ts';

export { deliveryStatuses } from './delivery-statuses.ts';

/** A delivery as operators list it: no payload, no secret. */
export interface DeliverySummary {
  id: string;
  status: DeliveryStatus;
  eventType: string;
  jobId: string;
  apiKeyId: string | null;
  url: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
}

export interface ListDeliveriesFilter {
  status?: DeliveryStatus | undefined;
  /** Created at or after. */
  since?: Date | undefined;
  /** @defaultValue 100 */
  limit?: number | undefined;
}

/** Deliveries, newest first. */
export async function listDeliveries(
  db: Db,
  filter: ListDeliveriesFilter = {},
): Promise<DeliverySummary[]> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select([
      'id',
      'status',
      'event_type',
      'job_id',
      'api_key_id',
      'url',
      'attempts',
      'last_status_code',
      'last_error',
      'created_at',
      'next_attempt_at',
      'delivered_at',
    ])
    .$if(filter.status !== undefined, (qb) => qb.where('status', '=', filter.status!))
    .$if(filter.since !== undefined, (qb) => qb.where('created_at', '>=', filter.since!))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 100)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    status: row.status,
    eventType: row.event_type,
    jobId: row.job_id,
    apiKeyId: row.api_key_id,
    url: row.url,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: row.created_at,
    nextAttemptAt: row.next_attempt_at,
    deliveredAt: row.delivered_at,
  }));
}
