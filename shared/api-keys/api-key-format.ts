import { createHash, randomBytes } from 'node:crypto';

/**
 * The API key format, `lb_<prefix>_<secret>`:
 *
 * - `lb_` marks a lowburn key (secret scanners and people can tell what leaked);
 * - `<prefix>`: 8 base62 characters (~47.6 bits), the visible lookup id. It is stored in clear
 *   as `lb_<prefix>` (the `prefix` column) so a key can be found, listed and revoked by it;
 * - `<secret>`: 32 base62 characters (~190.5 bits of `node:crypto` randomness), never stored.
 *
 * Example: `lb_3hG8kQ2z_Vt0bX9mRw4LcN7pQ1sYe5uJ2aKd8fHg6`. Only the SHA-256 of the whole key is
 * kept (`key_hash`).
 */
export const API_KEY_PATTERN = /^lb_([0-9A-Za-z]{8})_([0-9A-Za-z]{32})$/;

const PREFIX_LENGTH = 8;
const SECRET_LENGTH = 32;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
// The largest multiple of 62 that fits in a byte: bytes at or above it are dropped, so every
// character is equally likely (a plain `byte % 62` would favour the first 8 characters).
const UNBIASED_LIMIT = 248;

/** `length` uniformly random base62 characters from `node:crypto`. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length + 8)) {
      if (byte < UNBIASED_LIMIT) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A new random key and the prefix it is looked up by. */
export function generateApiKey(): { key: string; prefix: string } {
  const prefix = `lb_${randomBase62(PREFIX_LENGTH)}`;
  return { key: `${prefix}_${randomBase62(SECRET_LENGTH)}`, prefix };
}

/**
 * The stored prefix (`lb_<8 chars>`) of a well-formed key, or `undefined` for anything else —
 * so a malformed header is rejected without a database round trip.
 */
export function parseApiKey(presented: unknown): { prefix: string } | undefined {
  if (typeof presented !== 'string') return undefined;
  const match = API_KEY_PATTERN.exec(presented);
  return match ? { prefix: `lb_${match[1]}` } : undefined;
}

/**
 * SHA-256 (hex) of the whole key. A fast hash is the right one here: slow hashes (bcrypt,
 * scrypt, argon2) exist to make guessing low-entropy passwords expensive, but a 190-bit random
 * secret cannot be guessed at any hash speed, and a fast hash keeps verification to
 * microseconds on every request.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. It cannot be
 * stored hashed like the key: the webhook worker needs the secret itself to sign each delivery
 * (HMAC-SHA256), and the receiver holds the same secret to verify.
 */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
