import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { missingSecretsKey } from '../../config/secrets-config.ts';
import { ConfigError } from '../../errors/config-error.ts';
import type { SecretKeyring } from '../../secrets/secret-keyring.ts';
import { openWebhookSecret, sealWebhookSecret } from '../../secrets/webhook-secret-seal.ts';

// Rows per UPDATE: api_keys is small (one row per key), this only bounds a statement's size.
const BATCH = 500;

/**
 * Webhook signing secrets at rest: `webhook_secret` (plain text) becomes
 * `webhook_secret_sealed` (AES-256-GCM, bound to the row) and `webhook_secret_key_id` (which key
 * sealed it; see shared/secrets). Existing secrets are sealed under `SECRETS_KEY` in the same
 * transaction, then the plain column is emptied and dropped, so nothing readable is left in the
 * live table or in a dump. (Dead row versions last until the next VACUUM; see the README.)
 *
 * Rows to encrypt and no key (production without `SECRETS_KEY`): the migration refuses, and
 * nothing changes. A table with no rows needs no key. `down` decrypts back, and needs the key.
 */
export function secretsAtRest(keyring: SecretKeyring | undefined): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`
        ALTER TABLE api_keys
          ADD COLUMN webhook_secret_key_id text,
          ADD COLUMN webhook_secret_sealed bytea,
          ALTER COLUMN webhook_secret DROP NOT NULL`.execute(db);
      const { rows } = await sql<{ id: string; webhook_secret: string }>`
        SELECT id, webhook_secret FROM api_keys WHERE webhook_secret IS NOT NULL`.execute(db);
      if (rows.length > 0)
        requireKey(keyring, `encrypt the webhook secrets of ${rows.length} API key(s)`);
      for (let i = 0; i < rows.length; i += BATCH) {
        const batch = rows.slice(i, i + BATCH).map((row) => ({
          id: row.id,
          ...sealWebhookSecret(keyring as SecretKeyring, row.id, row.webhook_secret),
        }));
        await sql`
          UPDATE api_keys k
          SET webhook_secret_key_id = t.key_id, webhook_secret_sealed = t.sealed, webhook_secret = NULL
          FROM unnest(${batch.map((b) => b.id)}::uuid[], ${batch.map((b) => b.keyId)}::text[],
                      ${batch.map((b) => b.sealed)}::bytea[]) AS t(id, key_id, sealed)
          WHERE k.id = t.id`.execute(db);
      }
      await sql`
        ALTER TABLE api_keys
          DROP COLUMN webhook_secret,
          ALTER COLUMN webhook_secret_key_id SET NOT NULL,
          ALTER COLUMN webhook_secret_sealed SET NOT NULL`.execute(db);
    },

    async down(db: Kysely<unknown>) {
      await sql`ALTER TABLE api_keys ADD COLUMN webhook_secret text`.execute(db);
      const { rows } = await sql<{ id: string; key_id: string; sealed: Buffer }>`
        SELECT id, webhook_secret_key_id AS key_id, webhook_secret_sealed AS sealed
        FROM api_keys`.execute(db);
      if (rows.length > 0)
        requireKey(keyring, `decrypt the webhook secrets of ${rows.length} API key(s)`);
      for (let i = 0; i < rows.length; i += BATCH) {
        const batch = rows.slice(i, i + BATCH);
        // Throws (and the transaction rolls back) on a secret no held key opens: never garbage.
        const secrets = batch.map((row) =>
          openWebhookSecret(keyring as SecretKeyring, row.id, {
            keyId: row.key_id,
            sealed: row.sealed,
          }),
        );
        await sql`
          UPDATE api_keys k SET webhook_secret = t.secret
          FROM unnest(${batch.map((b) => b.id)}::uuid[], ${secrets}::text[]) AS t(id, secret)
          WHERE k.id = t.id`.execute(db);
      }
      await sql`
        ALTER TABLE api_keys
          ALTER COLUMN webhook_secret SET NOT NULL,
          DROP COLUMN webhook_secret_key_id,
          DROP COLUMN webhook_secret_sealed`.execute(db);
    },
  };
}

function requireKey(keyring: SecretKeyring | undefined, task: string): void {
  if (keyring?.currentKeyId) return;
  throw new ConfigError([
    missingSecretsKey(
      `is required by \`lowburn migrate\` to ${task} (migration 0006-secrets-at-rest); nothing was changed`,
    ),
  ]);
}
