import type { SealedValue, SecretKeyring } from './secret-keyring.ts';

/**
 * The additional authenticated data of an API key's webhook secret: its row. A sealed secret
 * copied onto another key's row fails to open there, so a database writer cannot make one
 * customer's deliveries be signed with another customer's secret.
 */
export function webhookSecretAad(apiKeyId: string): string {
  return `api_keys/${apiKeyId}/webhook_secret`;
}

/** Seals the `whsec_` secret of API key `apiKeyId` under `SECRETS_KEY`. */
export function sealWebhookSecret(
  keyring: SecretKeyring,
  apiKeyId: string,
  secret: string,
): SealedValue & { sealed: Buffer } {
  return keyring.seal(secret, webhookSecretAad(apiKeyId));
}

/**
 * The `whsec_` secret of API key `apiKeyId`, opened from its stored form.
 * @throws {@link SecretKeyUnavailableError} | {@link SecretDecryptionError}, never garbage.
 */
export function openWebhookSecret(
  keyring: SecretKeyring,
  apiKeyId: string,
  stored: SealedValue,
): string {
  return keyring.open(
    stored,
    webhookSecretAad(apiKeyId),
    `the webhook secret of API key ${apiKeyId}`,
  );
}
