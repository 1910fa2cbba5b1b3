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
                  WHERE u.api_key_id = d.api_key_id AND u.url = d.url) AS url_disabled
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

/**
 * Records an attempt in `webhook_attempts` and moves the delivery on (counters, last status,
 * next attempt, delivered_at, status; the URL's 410), all in one statement, so the ledger never
 * shows an attempt without its effect on the delivery or the other way round. Concurrent jobs'
 * records share the statement.
 *
 * @returns the attempt's number and the delivery's `created_at`, or `undefined` when the
 * delivery is no longer in that run (replayed meanwhile): nothing was written.
 */
export function recordAttempt(
  db: Db,
  record: AttemptRecord,
): Promise<{ attempt: number; createdAt: Date } | undefined> {
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
     RETURNING w.id, w.attempts, w.api_key_id, w.url, w.created_at, i.status_code, i.duration_ms,
               i.error, i.attempted_at, i.disable_url
   ), attempt AS (
     INSERT INTO webhook_attempts (delivery_id, attempt, status_code, duration_ms, error, attempted_at)
     SELECT id, attempts, status_code, duration_ms, error, attempted_at FROM d
     ON CONFLICT (delivery_id, attempt) DO NOTHING
   ), gone AS (
     INSERT INTO webhook_disabled_urls (api_key_id, url, delivery_id)
     SELECT api_key_id, url, id FROM d WHERE disable_url AND api_key_id IS NOT NULL
     ON CONFLICT (api_key_id, url) DO NOTHING
   )
   SELECT id, attempts, created_at FROM d`,
);

async function recordMany(
  db: Db,
  records: AttemptRecord[],
): Promise<({ attempt: number; createdAt: Date } | undefined)[]> {
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
  const byId = new Map(
    (rows as { id: string; attempts: number; created_at: Date }[]).map((row) => [row.id, row]),
  );
  return records.map((r) => {
    const row = byId.get(r.id);
    return row && { attempt: row.attempts, createdAt: row.created_at };
  });
}

/** A new delivery's row. */
export interface NewDelivery {
  id: string;
  apiKeyId: string;
  jobId: string;
  eventType: string;
  url: string;
  /** The event, serialised. */
  payload: string;
}

/**
 * Inserts a delivery unless one with its id exists (batched with concurrent inserts).
 * @returns its run (0) when this call created it, `undefined` when it existed.
 */
export function insertDelivery(db: Db, delivery: NewDelivery): Promise<number | undefined> {
  return batchersFor(db).insert.submit(delivery);
}

async function insertMany(db: Db, deliveries: NewDelivery[]): Promise<(number | undefined)[]> {
  const now = new Date();
  const inserted = await db
    .insertInto('webhook_deliveries')
    .values(
      deliveries.map((d) => ({
        id: d.id,
        api_key_id: d.apiKeyId,
        job_id: d.jobId,
        event_type: d.eventType,
        url: d.url,
        payload: d.payload,
        next_attempt_at: now,
      })),
    )
    .onConflict((oc) => oc.column('id').doNothing())
    .returning(['id', 'run'])
    .execute();
  const runs = new Map(inserted.map((row) => [row.id, row.run]));
  return deliveries.map((d) => runs.get(d.id));
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
  record: StatementBatcher<AttemptRecord, { attempt: number; createdAt: Date } | undefined>;
  insert: StatementBatcher<NewDelivery, number | undefined>;
}

const batchers = new WeakMap<Db, LedgerBatchers>();

/** The batchers of one kysely instance (one pool): created with it, collected with it. */
function batchersFor(db: Db): LedgerBatchers {
  let found = batchers.get(db);
  if (!found) {
    found = {
      load: new StatementBatcher({ run: (ids) => loadMany(db, ids) }),
      record: new StatementBatcher({ run: (records) => recordMany(db, records), key: (r) => r.id }),
      insert: new StatementBatcher({ run: (rows) => insertMany(db, rows), key: (d) => d.id }),
    };
    batchers.set(db, found);
  }
  return found;
}
