import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import type { EndpointRef } from './endpoint-slots.ts';

/** What disabling an endpoint did. */
export interface DisabledEndpoint extends EndpointRef {
  /** A delivery's URL on that endpoint, for the log line (the endpoint is its origin). */
  url: string;
  failingSince: Date;
  /** Pending deliveries ended `disabled` by it (the attempt that tripped it included). */
  ended: number;
}

/**
 * Whether an endpoint that has failed every attempt since `failingSince` has failed long
 * enough to be disabled.
 */
export function failedTooLong(
  failingSince: Date | null,
  now: Date,
  disableAfterMs: number,
): failingSince is Date {
  return failingSince !== null && now.getTime() - failingSince.getTime() >= disableAfterMs;
}

/**
 * Disables an endpoint for its key (as a 410 disables a URL): marks it, and ends every pending
 * delivery to it `disabled` with an error that says why and how to undo it. Deliveries created
 * later are closed without an attempt when their job runs. A replay of any of them re-enables
 * the endpoint. One statement: a delivery is never left pending on a disabled endpoint.
 */
export async function disableEndpoint(
  db: Db,
  endpoint: EndpointRef & { url: string; failingSince: Date },
): Promise<DisabledEndpoint> {
  const error = disabledError(endpoint.endpoint, endpoint.failingSince);
  const { rows } = await sql<{ ended: string }>`
    WITH marked AS (
      INSERT INTO webhook_endpoints (api_key_id, endpoint, failing_since, disabled_at)
      VALUES (${endpoint.apiKeyId}, ${endpoint.endpoint}, ${endpoint.failingSince}, now())
      ON CONFLICT (api_key_id, endpoint) DO UPDATE SET disabled_at = now()
        WHERE webhook_endpoints.disabled_at IS NULL
    ), ended AS (
      UPDATE webhook_deliveries
      SET status = 'disabled', last_error = ${error}, next_attempt_at = NULL, updated_at = now()
      WHERE status = 'pending' AND api_key_id = ${endpoint.apiKeyId}
        AND endpoint = ${endpoint.endpoint}
      RETURNING 1
    )
    SELECT count(*) AS ended FROM ended`.execute(db);
  return { ...endpoint, ended: Number(rows[0]?.ended ?? 0) };
}

/** The ledger's error for a delivery ended because its endpoint is disabled. */
export function disabledError(endpoint: string, failingSince?: Date): string {
  const since = failingSince ? ` since ${failingSince.toISOString()}` : '';
  return `endpoint ${endpoint} disabled for this API key: every attempt failed${since}, for longer than WEBHOOK_DISABLE_AFTER; replay to re-enable it`;
}
