import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import { SecretDecryptionError } from '../errors/secret-decryption-error.ts';
import { SecretKeyUnavailableError } from '../errors/secret-key-unavailable-error.ts';
import type { SecretKeyring } from '../secrets/secret-keyring.ts';
import { openWebhookSecret, sealWebhookSecret } from '../secrets/webhook-secret-seal.ts';

/** What a rotation did. */
export interface RotationReport {
  /** The key id everything is now sealed under (`SECRETS_KEY`). */
  keyId: string;
  /** Secrets re-encrypted under `SECRETS_KEY` by this run. */
  rotated: number;
  /** Secrets that were sealed under `SECRETS_KEY` already. */
  current: number;
  /** Secrets no held key opens: left exactly as they were, with the reason. */
  unopenable: { apiKeyId: string; keyId: string; error: string }[];
}

/**
 * Re-encrypts every webhook secret not sealed under `SECRETS_KEY` (sealed under
 * `SECRETS_KEY_PREVIOUS`, or the development key while it is the previous one), in batches of
 * `batchSize`, each batch one statement. Idempotent, and safe beside a running fleet and beside
 * another rotation: a row is rewritten only if it is still sealed under the key it was read with.
 * A row no held key opens is reported and left untouched, never overwritten.
 *
 * @throws {@link ConfigError} when `keyring` has no `SECRETS_KEY`.
 */
export async function rotateWebhookSecrets(
  db: Db,
  keyring: SecretKeyring,
  options: { batchSize?: number } = {},
): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 500;
  const keyId = keyring.requireCurrentKeyId();
  const report: RotationReport = { keyId, rotated: 0, current: 0, unopenable: [] };
  // Paged by id, so a row that cannot be opened is passed over instead of read again forever.
  for (let after = ''; ; ) {
    const rows = await db
      .selectFrom('api_keys')
      .select(['id', 'webhook_secret_key_id', 'webhook_secret_sealed'])
      .where('webhook_secret_key_id', '<>', keyId)
      .$if(after !== '', (q) => q.where('id', '>', after))
      .orderBy('id')
      .limit(batchSize)
      .execute();
    if (rows.length === 0) break;
    after = rows.at(-1)?.id ?? after;
    const resealed: { id: string; oldKeyId: string; keyId: string; sealed: Buffer }[] = [];
    for (const row of rows) {
      const stored = { keyId: row.webhook_secret_key_id, sealed: row.webhook_secret_sealed };
      try {
        const secret = openWebhookSecret(keyring, row.id, stored);
        resealed.push({
          id: row.id,
          oldKeyId: stored.keyId,
          ...sealWebhookSecret(keyring, row.id, secret),
        });
      } catch (error) {
        if (
          !(error instanceof SecretKeyUnavailableError || error instanceof SecretDecryptionError)
        ) {
          throw error;
        }
        report.unopenable.push({ apiKeyId: row.id, keyId: stored.keyId, error: error.message });
      }
    }
    report.rotated += await writeBatch(db, resealed);
  }
  const current = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('webhook_secret_key_id', '=', keyId)
    .executeTakeFirstOrThrow();
  report.current = Number(current.n) - report.rotated;
  return report;
}

async function writeBatch(
  db: Db,
  rows: { id: string; oldKeyId: string; keyId: string; sealed: Buffer }[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await sql`
    UPDATE api_keys k
    SET webhook_secret_key_id = t.key_id, webhook_secret_sealed = t.sealed
    FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.oldKeyId)}::text[],
                ${rows.map((r) => r.keyId)}::text[], ${rows.map((r) => r.sealed)}::bytea[])
      AS t(id, old_key_id, key_id, sealed)
    WHERE k.id = t.id AND k.webhook_secret_key_id = t.old_key_id`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
