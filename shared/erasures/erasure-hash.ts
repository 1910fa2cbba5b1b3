import { createHmac, hkdfSync } from 'node:crypto';

// HKDF's `info`: binds the derived key to this one use, so the hash key is never SECRETS_KEY
// itself nor any other key derived from it.
const INFO = 'lowburn erasure user hash v1';
const derived = new WeakMap<Buffer, Buffer>();

/**
 * The key erasure hashes are made under: HKDF-SHA256 of `SECRETS_KEY` with a fixed label. Kept
 * per key object, so hashing many ids derives once.
 */
export function erasureKey(secretsKey: Buffer): Buffer {
  let key = derived.get(secretsKey);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secretsKey, Buffer.alloc(0), INFO, 32));
    derived.set(secretsKey, key);
  }
  return key;
}

/**
 * The keyed hash an erasure records instead of the user id once it is done: HMAC-SHA256 (hex)
 * of `userId` under a key derived from `SECRETS_KEY` ({@link erasureKey}). The same id and key
 * always give the same hash (one open erasure per user); without the key, the hash cannot be
 * matched against a list of guessed ids.
 *
 * @param secretsKey `SECRETS_KEY`'s bytes (`config.secrets.key`).
 * @example erasureHash('user-42', config.secrets.key) // '9f1c…' (64 hex digits)
 */
export function erasureHash(userId: string, secretsKey: Buffer): string {
  return createHmac('sha256', erasureKey(secretsKey)).update(userId, 'utf8').digest('hex');
}

/**
 * A short keyed digest (16 hex digits of {@link erasureHash}): what the ledger keeps of a cache
 * key or a job id it removed, so `--verify` can recognise one still stored without the ledger
 * holding the key (a template key holds the user's parameters in clear).
 */
export const erasureDigest = (value: string, secretsKey: Buffer) =>
  erasureHash(value, secretsKey).slice(0, 16);
