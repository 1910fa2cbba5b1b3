import type { Db } from '../db/create-db.ts';
import { StatementBatcher } from './statement-batcher.ts';

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

/** A delivery this call created. */
export interface InsertedDelivery {
  run: number;
  /** Its endpoint (URL origin), as Postgres computes it. */
  endpoint: string;
}

/**
 * Inserts a delivery unless one with its id exists (batched with concurrent inserts).
 * @returns its run (0) and endpoint when this call created it, `undefined` when it existed.
 */
export function insertDelivery(
  db: Db,
  delivery: NewDelivery,
): Promise<InsertedDelivery | undefined> {
  return inserterFor(db).submit(delivery);
}

async function insertMany(
  db: Db,
  deliveries: NewDelivery[],
): Promise<(InsertedDelivery | undefined)[]> {
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
    .returning(['id', 'run', 'endpoint'])
    .execute();
  const byId = new Map(inserted.map((row) => [row.id, row]));
  return deliveries.map((d) => {
    const row = byId.get(d.id);
    return row && { run: row.run, endpoint: row.endpoint };
  });
}

const inserters = new WeakMap<Db, StatementBatcher<NewDelivery, InsertedDelivery | undefined>>();

/** The insert batcher of one kysely instance (one pool): created with it, collected with it. */
function inserterFor(db: Db) {
  let found = inserters.get(db);
  if (!found) {
    found = new StatementBatcher({ run: (rows) => insertMany(db, rows), key: (d) => d.id });
    inserters.set(db, found);
  }
  return found;
}
