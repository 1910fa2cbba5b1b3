import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';

/** A local model as the caches key it: its name, `LOCAL_MODEL_VERSION` and Ollama's digest. */
export interface LocalModelVersion {
  localModel: string;
  version: string;
  digest: string;
}

/**
 * Records a local model version the first time any worker sees it, with the one seen last
 * before it (of any model name: a fine-tune usually comes under a new `LOCAL_MODEL`). Every
 * worker calls this when its digest read changes; the unique constraint makes the fleet's calls
 * one row. Resolves to whether this call wrote it.
 */
export async function recordModelVersion(db: Db, seen: LocalModelVersion): Promise<boolean> {
  const result = await sql`
    INSERT INTO model_versions
      (local_model, model_version, digest, previous_model, previous_version, previous_digest)
    SELECT ${seen.localModel}, ${seen.version}, ${seen.digest},
      p.local_model, p.model_version, p.digest
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
      SELECT local_model, model_version, digest FROM model_versions
      ORDER BY first_seen_at DESC, id DESC LIMIT 1
    ) AS p ON true
    ON CONFLICT (local_model, model_version, digest) DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}

/** The latest recorded version change (the newest row), if any. */
export async function latestModelVersion(db: Db) {
  return db
    .selectFrom('model_versions')
    .selectAll()
    .orderBy('first_seen_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}
