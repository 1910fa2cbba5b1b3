import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/create-db.ts';
import type { SecretKeyring } from '../secrets/secret-keyring.ts';
import { openWebhookSecret, sealWebhookSecret } from '../secrets/webhook-secret-seal.ts';

/**
 * The system API key that signs operator events (alerts, the digest). A delivery is signed with
 * its API key's `whsec_` secret; giving operator events a key of their own lets them use the
 * webhook delivery unchanged — ledger, retries, dead letters, endpoint slots, 410 handling,
 * `lowburn webhooks list/replay` — with no second signing path. The key never authenticates:
 * it is created revoked, with no scopes, and its key hash is of random bytes nobody holds.
 */
export const OPERATOR_KEY_ID = '0a1e4700-0000-4000-8000-000000000001';
const OPERATOR_KEY_NAME = 'lowburn operator alerts (system key: signs alert and digest events)';
const OPERATOR_KEY_PREFIX = 'system-alerts';

/**
 * Makes the system key hold `secret` (`ALERT_WEBHOOK_SECRET`), sealed under `SECRETS_KEY`:
 * created the first time, re-sealed when the setting changed (or the stored value no longer
 * opens). Safe to run from two workers at once: both write the same secret.
 */
export async function ensureOperatorKey(
  db: Db,
  keyring: SecretKeyring,
  secret: string,
): Promise<string> {
  const row = await db
    .selectFrom('api_keys')
    .select(['webhook_secret_key_id', 'webhook_secret_sealed'])
    .where('id', '=', OPERATOR_KEY_ID)
    .executeTakeFirst();
  if (row && opensTo(keyring, row, secret)) return OPERATOR_KEY_ID;
  const sealed = sealWebhookSecret(keyring, OPERATOR_KEY_ID, secret);
  await db
    .insertInto('api_keys')
    .values({
      id: OPERATOR_KEY_ID,
      name: OPERATOR_KEY_NAME,
      prefix: OPERATOR_KEY_PREFIX,
      key_hash: createHash('sha256').update(randomBytes(32)).digest('hex'),
      scopes: [],
      webhook_secret_key_id: sealed.keyId,
      webhook_secret_sealed: sealed.sealed,
      revoked_at: new Date(),
    })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({
        webhook_secret_key_id: sealed.keyId,
        webhook_secret_sealed: sealed.sealed,
      }),
    )
    .execute();
  return OPERATOR_KEY_ID;
}

function opensTo(
  keyring: SecretKeyring,
  row: { webhook_secret_key_id: string; webhook_secret_sealed: Uint8Array },
  secret: string,
): boolean {
  try {
    const stored = { keyId: row.webhook_secret_key_id, sealed: row.webhook_secret_sealed };
    return openWebhookSecret(keyring, OPERATOR_KEY_ID, stored) === secret;
  } catch {
    // Sealed under a key this process no longer has: sealing it again is the fix.
    return false;
  }
}
