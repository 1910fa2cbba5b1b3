import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import { erasureHash } from './erasure-hash.ts';
import type { ErasureStatus } from './request-schema.ts';

/** An erasure as the ledger holds it. */
export interface Erasure {
  id: string;
  /** In clear while work is left; `null` once `done`. */
  userId: string | null;
  userHash: string;
  deviceIds: string[];
  status: ErasureStatus;
  requestedBy: string | null;
  requestedAt: Date;
  hotDoneAt: Date | null;
  coldDoneAt: Date | null;
  counts: Record<string, unknown>;
}

export interface ErasureRequest {
  userId: string;
  /** Devices whose telemetry goes with the user. @defaultValue none */
  deviceIds?: readonly string[];
  /** Who asked: `api-key:<id>`, `cli:<os user>`. */
  requestedBy?: string;
  /** `SECRETS_KEY`'s bytes: the user hash is keyed by it. */
  secretsKey: Buffer;
}

export interface RecordedErasure {
  id: string;
  status: ErasureStatus;
  /** `false` when the user already had an open erasure: this is that one. */
  created: boolean;
  /** `true` when the request named devices the open erasure did not have (it runs again). */
  widened: boolean;
}

/**
 * Records an erasure, or returns the user's open one: asking twice is one erasure (the same id
 * back), whatever the race, by the ledger's unique index on the user hash of open rows. Devices
 * a repeated request adds are merged in; an erasure already `hot-done` goes back to `pending`
 * for them, so its job runs again.
 */
export async function requestErasure(db: Db, request: ErasureRequest): Promise<RecordedErasure> {
  const hash = erasureHash(request.userId, request.secretsKey);
  const devices = [...new Set(request.deviceIds ?? [])].sort();
  const { rows } = await sql<{
    id: string;
    status: ErasureStatus;
    created: boolean;
    widened: boolean;
  }>`
    INSERT INTO erasures AS e (id, user_id, user_hash, device_ids, requested_by)
    VALUES (gen_random_uuid(), ${request.userId}, ${hash}, ${devices}::text[], ${request.requestedBy ?? null})
    ON CONFLICT (user_hash) WHERE status <> 'done' DO UPDATE SET
      device_ids = ARRAY(SELECT DISTINCT d FROM unnest(e.device_ids || EXCLUDED.device_ids) d ORDER BY d),
      status = CASE WHEN NOT (EXCLUDED.device_ids <@ e.device_ids) THEN 'pending' ELSE e.status END
    RETURNING id, status, (xmax = 0) AS created,
      (xmax <> 0 AND NOT (${devices}::text[] <@ (SELECT device_ids FROM erasures WHERE id = e.id))) AS widened
  `.execute(db);
  const row = rows[0];
  if (!row) throw new Error('recording the erasure returned no row');
  return { id: row.id, status: row.status, created: row.created, widened: row.widened };
}

type Row = {
  id: string;
  user_id: string | null;
  user_hash: string;
  device_ids: string[];
  status: ErasureStatus;
  requested_by: string | null;
  requested_at: Date;
  hot_done_at: Date | null;
  cold_done_at: Date | null;
  counts: Record<string, unknown>;
};

const toErasure = (r: Row): Erasure => ({
  id: r.id,
  userId: r.user_id,
  userHash: r.user_hash,
  deviceIds: r.device_ids,
  status: r.status,
  requestedBy: r.requested_by,
  requestedAt: r.requested_at,
  hotDoneAt: r.hot_done_at,
  coldDoneAt: r.cold_done_at,
  counts: r.counts,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An erasure by id; `undefined` for an unknown id (or one that is not a uuid). */
export async function findErasure(db: Db, id: string): Promise<Erasure | undefined> {
  if (!UUID.test(id)) return undefined;
  const row = await db.selectFrom('erasures').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toErasure(row) : undefined;
}

/** Erasures in `status`, oldest first: `pending` ones wait for `erase-user`, `hot-done` ones for the cold side. */
export async function erasuresIn(db: Db, status: ErasureStatus): Promise<Erasure[]> {
  const rows = await db
    .selectFrom('erasures')
    .selectAll()
    .where('status', '=', status)
    .orderBy('requested_at')
    .execute();
  return rows.map(toErasure);
}

/**
 * Inside the erase job's transaction: the erasure, locked until commit (two runs of one erasure
 * take turns), or `undefined` when it is unknown.
 */
export async function lockErasure(trx: Db, id: string): Promise<Erasure | undefined> {
  const row = await trx
    .selectFrom('erasures')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  return row ? toErasure(row) : undefined;
}

/**
 * Records what the hot pass removed under `counts.hot` (figures added to an earlier run's) and,
 * when `done`, moves the erasure to `hot-done`: the cold side's turn.
 */
export async function recordHotPass(
  trx: Db,
  id: string,
  hot: object,
  done: boolean,
): Promise<void> {
  await trx
    .updateTable('erasures')
    .set({
      counts: sql`counts || jsonb_build_object('hot', ${JSON.stringify(hot)}::jsonb)`,
      ...(done && { status: 'hot-done', hot_done_at: sql`now()` }),
    })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}
