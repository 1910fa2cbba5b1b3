import { CompiledQuery, sql } from 'kysely';
import { type Db, preparedStatement } from '../db/create-db.ts';
import type { DeliveryStatus } from '../db/database.ts';
import type { SealedValue } from '../secrets/secret-keyring.ts';
import { StatementBatcher } from './statement-batcher.ts';

/** A delivery as its next attempt needs it: the row, the key's secret, the URL's standing. */
export interface DeliveryForAttempt {
  id: string;
  apiKeyId: string | null;
  url: string;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  run: number;
  runAttempts: number;
  nextAttemptAt: Date | null;
  createdAt: Date;
  /** The key's `whsec_` secret as stored (sealed); `null` when the key was deleted. */
  sealedSecret: SealedValue | null;
  /** The URL answered `410 Gone` to this key before. */
  urlDisabled: boolean;
  /** The URL's origin: with the key, the endpoint whose slots and health it shares. */
  endpoint: string;
  /** The endpoint failed every attempt for `WEBHOOK_DISABLE_AFTER` and was disabled. */
  endpointDisabled: boolean;
}

/**
 * Everything one attempt needs, in one round trip shared with the other jobs loading at the
 * same moment (see {@link StatementBatcher}).
 */
export function loadDeliveryForAttempt(
  db: Db,
  id: string,
): Promise<DeliveryForAttempt | undefined> {
  return batchersFor(db).load.submit(id);
}

// The ledger's hot statements: fixed texts (a batch is arrays, whatever its size), prepared once
// per connection. Planning the record statement took longer than running it for 12 deliveries.
const LOAD_SQL = preparedStatement(
  'webhooks_load',
  `SELECT d.id, d.api_key_id, d.url, d.payload, d.status, d.run, d.run_attempts, d.next_attempt_at,
          d.created_at, k.webhook_secret_key_id, k.webhook_secret_sealed,
          EXISTS (SELECT 1 FROM webhook_disabled_urls u
                  WHERE u.api_key_id = d.api_key_id AND u.url = d.url) AS url_disabled,
          d.endpoint,
          EXISTS (SELECT 1 FROM webhook_endpoints e
                  WHERE e.api_key_id = d.api_key_id AND e.endpoint = d.endpoint
                    AND e.disabled_at IS NOT NULL) AS endpoint_disabled
   FROM webhook_deliveries d LEFT JOIN api_keys k ON k.id = d.api_key_id
   WHERE d.id = ANY($1::text[])`,
);

interface LoadRow {
  id: string;
  api_key_id: string | null;
  url: string;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  run: number;
  run_attempts: number;
  next_attempt_at: Date | null;
  created_at: Date;
  webhook_secret_key_id: string | null;
  webhook_secret_sealed: Buffer | null;
  url_disabled: boolean;
  endpoint: string;
  endpoint_disabled: boolean;
}

async function loadMany(db: Db, ids: string[]): Promise<(DeliveryForAttempt | undefined)[]> {
  const { rows } = await db.executeQuery(CompiledQuery.raw(LOAD_SQL, [ids]));
  const byId = new Map(
    (rows as LoadRow[]).map((row) => [
      row.id,
      {
        id: row.id,
        apiKeyId: row.api_key_id,
        url: row.url,
        payload: row.payload,
        status: row.status,
        run: row.run,
        runAttempts: row.run_attempts,
        nextAttemptAt: row.next_attempt_at,
        createdAt: row.created_at,
        sealedSecret:
          row.webhook_secret_key_id !== null && row.webhook_secret_sealed !== null
            ? { keyId: row.webhook_secret_key_id, sealed: row.webhook_secret_sealed }
            : null,
        urlDisabled: row.url_disabled === true,
        endpoint: row.endpoint,
        endpointDisabled: row.endpoint_disabled === true,
      },
    ]),
  );
  return ids.map((id) => byId.get(id));
}

/** One attempt's result, and what the delivery becomes after it. */
export interface AttemptRecord {
  id: string;
  /** The run the attempt belongs to; a replay since then makes the record a no-op. */
  run: number;
  /** `pending` when another attempt follows at `nextAttemptAt`. */
  status: DeliveryStatus;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  attemptedAt: Date;
  nextAttemptAt: Date | null;
  /** Record the URL as gone for this key (`410`). */
  disableUrl: boolean;
}

/** What recording an attempt returns. */
export interface RecordedAttempt {
  attempt: number;
  createdAt: Date;
  /**
   * Since when every attempt to the delivery's endpoint had failed, before this one (`null`
   * when the last one succeeded, or this is its first).
   */
  failingSince: Date | null;
}

/**
 * Records an attempt in `webhook_attempts` and moves the delivery on (counters, last status,
 * next attempt, delivered_at, status; the URL's 410; the endpoint's first failure since its last
 * success), all in one statement, so the ledger never shows an attempt without its effect on the
 * delivery or the other way round. Concurrent jobs' records share the statement.
 *
 * @returns the attempt's number, the delivery's `created_at` and its endpoint's failing-since, or
 * `undefined` when the delivery is no longer in that run (replayed meanwhile): nothing was
 * written.
 */
export function recordAttempt(db: Db, record: AttemptRecord): Promise<RecordedAttempt | undefined> {
  return batchersFor(db).record.submit(record);
}

const RECORD_SQL = preparedStatement(
  'webhooks_record',
  `WITH input AS (
     SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::int[],
                          $7::timestamptz[], $8::timestamptz[], $9::boolean[])
       AS t(id, run, status, status_code, error, duration_ms, attempted_at, next_attempt_at,
            disable_url)
   ), d AS (
     UPDATE webhook_deliveries w
     SET attempts = w.attempts + 1,
         run_attempts = w.run_attempts + 1,
         status = i.status,
         last_status_code = i.status_code,
         last_error = i.error,
         next_attempt_at = i.next_attempt_at,
         delivered_at = CASE WHEN i.status = 'succeeded' THEN now() ELSE w.delivered_at END,
         updated_at = now()
     FROM input i
     WHERE w.id = i.id AND w.run = i.run AND w.status = 'pending'
     RETURNING w.id, w.attempts, w.api_key_id, w.url, w.endpoint, w.created_at, i.status_code,
               i.duration_ms, i.error, i.attempted_at, i.disable_url, i.status
   ), attempt AS (
     INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, error, attempted_at)
     SELECT id, attempts, status_code, duration_ms, error, attempted_at FROM d
     ON CONFLICT (delivery_id, attempt) DO NOTHING
   ), gone AS (
     INSERT INTO webhook_disabled_urls (api_key_id, url, delivery_id)
     SELECT api_key_id, url, id FROM d WHERE disable_url AND api_key_id IS NOT NULL
     ON CONFLICT (api_key_id, url) DO NOTHING
   ), health AS (
     -- One row per endpoint (an upsert may touch a row once per statement); a success anywhere
     -- in the batch counts as the endpoint answering.
     SELECT api_key_id, endpoint, bool_or(status = 'succeeded') AS ok, min(attempted_at) AS failed_at
     FROM d WHERE api_key_id IS NOT NULL GROUP BY api_key_id, endpoint
   ), healed AS (
     -- Written only when the endpoint was failing: a healthy endpoint's success writes nothing.
     UPDATE webhook_endpoints e SET failing_since = NULL
     FROM health h
     WHERE h.ok AND e.api_key_id = h.api_key_id AND e.endpoint = h.endpoint
       AND e.failing_since IS NOT NULL
   ), failing AS (
     INSERT INTO webhook_endpoints (api_key_id, endpoint, failing_since)
     SELECT api_key_id, endpoint, failed_at FROM health WHERE NOT ok
     ON CONFLICT (api_key_id, endpoint) DO UPDATE SET failing_since = excluded.failing_since
       WHERE webhook_endpoints.failing_since IS NULL
   )
   -- The statement sees webhook_endpoints as it was before it: failing_since before this attempt.
   SELECT d.id, d.attempts, d.created_at, e.failing_since FROM d
   LEFT JOIN webhook_endpoints e ON e.api_key_id = d.api_key_id AND e.endpoint = d.endpoint`,
);

async function recordMany(
  db: Db,
  records: AttemptRecord[],
): Promise<(RecordedAttempt | undefined)[]> {
  const column = <T>(pick: (r: AttemptRecord) => T) => records.map(pick);
  const { rows } = await db.executeQuery(
    CompiledQuery.raw(RECORD_SQL, [
      column((r) => r.id),
      column((r) => r.run),
      column((r) => r.status),
      column((r) => r.statusCode),
      column((r) => r.error),
      column((r) => Math.round(r.durationMs)),
      column((r) => r.attemptedAt),
      column((r) => r.nextAttemptAt),
      column((r) => String(r.disableUrl)),
    ]),
  );
  type Row = { id: string; attempts: number; created_at: Date; failing_since: Date | null };
  const byId = new Map((rows as Row[]).map((row) => [row.id, row]));
  return records.map((r) => {
    const row = byId.get(r.id);
    return (
      row && { attempt: row.attempts, createdAt: row.created_at, failingSince: row.failing_since }
    );
  });
}

/**
 * Ends a pending delivery of `run` without an attempt (its URL is disabled, its key deleted).
 * @returns false when the delivery is no longer in that run.
 */
export async function closeWithoutAttempt(
  db: Db,
  update: { id: string; run: number; status: 'disabled' | 'failed'; error: string },
): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({
      status: update.status,
      last_error: update.error,
      next_attempt_at: null,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', update.id)
    .where('run', '=', update.run)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

interface LedgerBatchers {
  load: StatementBatcher<string, DeliveryForAttempt | undefined>;
  record: StatementBatcher<AttemptRecord, RecordedAttempt | undefined>;
}

const batchers = new WeakMap<Db, LedgerBatchers>();

/** The batchers of one kysely instance (one pool): created with it, collected with it. */
function batchersFor(db: Db): LedgerBatchers {
  let found = batchers.get(db);
  if (!found) {
    found = {
      load: new StatementBatcher({ run: (ids) => loadMany(db, ids) }),
      record: new StatementBatcher({ run: (records) => recordMany(db, records), key: (r) => r.id }),
    };
    batchers.set(db, found);
  }
  return found;
}
