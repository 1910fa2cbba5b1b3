import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { missingSecretsKey, type SecretsConfig } from '../config/secrets-config.ts';
import { ConfigError } from '../errors/config-error.ts';
import { SecretDecryptionError } from '../errors/secret-decryption-error.ts';
import { SecretKeyUnavailableError } from '../errors/secret-key-unavailable-error.ts';
import { secretKeyId } from './secret-key.ts';

/** A value sealed with AES-256-GCM, as stored: the id of the key that sealed it, and the bytes. */
export interface SealedValue {
  keyId: string;
  /** `0x01 ‖ IV (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`; a `Buffer` when sealed here or read by pg. */
  sealed: Uint8Array;
}

// The first byte names the layout, so a future one (another cipher, a longer IV) can be told apart.
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CACHE_MAX = 1_000;

/**
 * The keys this process holds: `SECRETS_KEY` seals, and opens, with `SECRETS_KEY_PREVIOUS`,
 * what was sealed before a rotation. Values are AES-256-GCM with a random 12-byte IV each and
 * bound to their place by additional authenticated data (`aad`), so a value copied to another
 * row does not open there.
 *
 * @example
 * const keyring = new SecretKeyring({ current: key });
 * const stored = keyring.seal('whsec_…', 'api_keys/3f…/webhook_secret');
 * keyring.open(stored, 'api_keys/3f…/webhook_secret', 'the webhook secret of API key 3f…');
 */
export class SecretKeyring {
  /** The id of `SECRETS_KEY`, the key new values are sealed under; unset when there is none. */
  readonly currentKeyId: string | undefined;
  readonly previousKeyId: string | undefined;
  readonly #keys = new Map<string, KeyObject>();
  // Opened values by key id, place and bytes: a delivery worker opens the same few secrets all
  // day. AES-GCM is cheap; the cache mostly saves allocating a decipher per attempt. Never logged.
  readonly #opened = new Map<string, string>();

  constructor(keys: { current?: Buffer | undefined; previous?: Buffer | undefined }) {
    if (keys.previous) this.previousKeyId = this.#add(keys.previous);
    if (keys.current) this.currentKeyId = this.#add(keys.current);
  }

  /** The keyring of a process's configuration: `SECRETS_KEY` and `SECRETS_KEY_PREVIOUS`. */
  static fromConfig(secrets: SecretsConfig): SecretKeyring {
    return new SecretKeyring({ current: secrets.key, previous: secrets.previousKey });
  }

  #add(key: Buffer): string {
    const id = secretKeyId(key);
    this.#keys.set(id, createSecretKey(key));
    return id;
  }

  /** Whether a value sealed under `keyId` can be opened here. */
  canOpen(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /**
   * The id of `SECRETS_KEY`.
   * @throws {@link ConfigError} when this process has no `SECRETS_KEY`.
   */
  requireCurrentKeyId(): string {
    if (this.currentKeyId) return this.currentKeyId;
    throw new ConfigError([
      missingSecretsKey('is required to encrypt secrets at rest (32 random bytes, base64)'),
    ]);
  }

  /**
   * Seals `plaintext` under `SECRETS_KEY`, bound to `aad`.
   * @throws {@link ConfigError} when this process has no `SECRETS_KEY`.
   */
  seal(plaintext: string, aad: string): SealedValue & { sealed: Buffer } {
    const keyId = this.requireCurrentKeyId();
    const key = this.#keys.get(keyId) as KeyObject;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(keyId, aad));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId, sealed: Buffer.concat([Buffer.of(VERSION), iv, body, cipher.getAuthTag()]) };
  }

  /**
   * Opens a value sealed with {@link seal} under the same `aad`. `subject` names the value in
   * errors (`the webhook secret of API key …`); the value itself is never in a message.
   *
   * @throws {@link SecretKeyUnavailableError} when its key is neither current nor previous.
   * @throws {@link SecretDecryptionError} when it does not authenticate (altered, or moved).
   */
  open(value: SealedValue, aad: string, subject: string): string {
    const key = this.#keys.get(value.keyId);
    if (!key) {
      throw new SecretKeyUnavailableError(subject, value.keyId, {
        current: this.currentKeyId,
        previous: this.previousKeyId,
      });
    }
    const sealed = Buffer.from(
      value.sealed.buffer,
      value.sealed.byteOffset,
      value.sealed.byteLength,
    );
    const cacheKey = `${value.keyId}\0${aad}\0${sealed.toString('base64')}`;
    const cached = this.#opened.get(cacheKey);
    if (cached !== undefined) return cached;
    const plaintext = decrypt(key, { keyId: value.keyId, sealed }, aad, subject);
    if (this.#opened.size >= CACHE_MAX) this.#opened.clear();
    this.#opened.set(cacheKey, plaintext);
    return plaintext;
  }
}

function decrypt(
  key: KeyObject,
  value: { keyId: string; sealed: Buffer },
  aad: string,
  subject: string,
): string {
  const { sealed, keyId } = value;
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
    throw new SecretDecryptionError(subject, keyId);
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(keyId, aad));
  decipher.setAuthTag(tag);
  try {
    const body = sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new SecretDecryptionError(subject, keyId, { cause: error });
  }
}

// The layout version and key id are authenticated too: a row whose key id column was edited to
// another held key fails the tag instead of decrypting under a key it was not sealed with.
function additionalData(keyId: string, aad: string): Buffer {
  return Buffer.from(`lowburn-sealed-v${VERSION}\0${keyId}\0${aad}`, 'utf8');
}
