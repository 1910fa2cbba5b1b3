import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../shared/db/create-db.ts';
import { canonicalJson } from '../shared/json/canonical-json.ts';
import { ApiError } from './api-error.ts';

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** `Idempotency-Key`: 1–255 visible ASCII characters. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw new ApiError(
      400,
      'invalid_request',
      'Idempotency-Key must be 1–255 visible ASCII characters',
      {
        field: 'idempotency-key',
      },
    );
  }
  return header;
}

interface Stored<Body> {
  /** A seed for the job id that is the same for every retry of this key (and only this key). */
  seed: string;
  /** The response given the first time, when there was one. */
  response: Body | undefined;
}

/**
 * Runs `create` once per (API key, Idempotency-Key). The key is stored in Postgres under a unique
 * constraint with a hash of the request: the same key with the same request returns the first
 * response; with another request it is a 422. `create` gets a seed that is stable across retries,
 * so a crash between enqueueing and recording the response re-enqueues under the same job id.
 */
export async function idempotent<Body extends Record<string, unknown>>(options: {
  db: Db;
  apiKeyId: string;
  key: string;
  request: unknown;
  ttlMs: number;
  create: (seed: string) => Promise<Body>;
  /** Called when the first response could not be recorded (the response is still returned). */
  onRecordError?: (error: unknown) => void;
}): Promise<Body> {
  const { db, apiKeyId, key } = options;
  const requestHash = sha256(canonicalJson(options.request));
  const stored = await claim<Body>(db, apiKeyId, key, requestHash, options.ttlMs);
  if (stored.response) return stored.response;
  const response = await options.create(stored.seed);
  // The work is queued now: failing to record the response must not turn into "nothing was
  // queued". A retry finds no response, and re-adds under the same (seeded) job id, which
  // BullMQ ignores while the job is still kept.
  await db
    .updateTable('idempotency_keys')
    .set({ response_status: 202, response_body: JSON.stringify(response) })
    .where('api_key_id', '=', apiKeyId)
    .where('key', '=', key)
    .execute()
    .catch((error: unknown) => options.onRecordError?.(error));
  return response;
}

async function claim<Body>(
  db: Db,
  apiKeyId: string,
  key: string,
  requestHash: string,
  ttlMs: number,
): Promise<Stored<Body>> {
  const expiresAt = new Date(Date.now() + ttlMs);
  // Inserts, or takes over an expired row; an unexpired row is left alone and read below.
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({ api_key_id: apiKeyId, key, request_hash: requestHash, expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .columns(['api_key_id', 'key'])
        .doUpdateSet({
          request_hash: requestHash,
          response_status: null,
          response_body: null,
          created_at: sql`now()`,
          expires_at: expiresAt,
        })
        .where('idempotency_keys.expires_at', '<', sql<Date>`now()`),
    )
    .returning(['created_at'])
    .executeTakeFirst();
  if (claimed)
    return {
      seed: sha256(`${apiKeyId}|${key}|${claimed.created_at.toISOString()}`),
      response: undefined,
    };

  const existing = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'response_body', 'created_at'])
    .where('api_key_id', '=', apiKeyId)
    .where('key', '=', key)
    .executeTakeFirstOrThrow();
  if (existing.request_hash !== requestHash) {
    throw new ApiError(
      422,
      'idempotency_conflict',
      'this Idempotency-Key was already used with a different request; use a new key for a new request',
      { field: 'idempotency-key' },
    );
  }
  return {
    seed: sha256(`${apiKeyId}|${key}|${existing.created_at.toISOString()}`),
    response: (existing.response_body as Body | null) ?? undefined,
  };
}
