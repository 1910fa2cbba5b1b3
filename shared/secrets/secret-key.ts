import { createHash } from 'node:crypto';

/** AES-256 wants exactly this many key bytes. */
export const SECRET_KEY_BYTES = 32;

// Standard base64 with padding, the form `openssl rand -base64 32` and Coolify's
// SERVICE_REALBASE64_32_* print. Checked before decoding: Buffer.from(…, 'base64') skips what it
// does not understand, so a typo would otherwise shorten the key silently.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of a `SECRETS_KEY`-style value (base64 of 32 bytes), or `undefined` when it is not
 * one. Surrounding whitespace (a pasted newline) is ignored.
 */
export function decodeSecretKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!BASE64.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed, 'base64');
  return bytes.length === SECRET_KEY_BYTES ? bytes : undefined;
}

/**
 * A key's id: the first 8 hex characters of SHA-256 over a label and the key. Stored beside
 * each sealed value so a row names the key that sealed it, and a missing key is reported as
 * such (before any decryption is tried) instead of as a failed tag. The label keeps the id from
 * being a plain hash of the key that could be matched against hashes computed elsewhere; 32 bits
 * of a hash say nothing useful about a 256-bit key.
 */
export function secretKeyId(key: Buffer): string {
  return createHash('sha256')
    .update('lowburn secrets key id\0')
    .update(key)
    .digest('hex')
    .slice(0, 8);
}

/**
 * The development key used when `SECRETS_KEY` is unset outside production, and the default the
 * bundled docker-compose.yml passes. It is public (it is right here), so it protects nothing: it
 * exists so development and tests run the same encrypted code path as production. The base64
 * of the 32 ASCII bytes `lowburn-dev-secrets-key-32-bytes`.
 */
export const DEV_SECRETS_KEY = 'bG93YnVybi1kZXYtc2VjcmV0cy1rZXktMzItYnl0ZXM=';
