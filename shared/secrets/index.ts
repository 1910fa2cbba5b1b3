export { DEV_SECRETS_KEY, decodeSecretKey, SECRET_KEY_BYTES, secretKeyId } from './secret-key.ts';
export { type SealedValue, SecretKeyring } from './secret-keyring.ts';
export { openWebhookSecret, sealWebhookSecret, webhookSecretAad } from './webhook-secret-seal.ts';
