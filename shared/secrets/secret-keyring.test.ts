import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors/config-error.ts';
import { SecretDecryptionError } from '../errors/secret-decryption-error.ts';
import { SecretKeyUnavailableError } from '../errors/secret-key-unavailable-error.ts';
import { secretKeyId } from './secret-key.ts';
import { SecretKeyring } from './secret-keyring.ts';
import { openWebhookSecret, sealWebhookSecret } from './webhook-secret-seal.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const ROW = '7f0c3a8e-1d2b-4c5d-8e9f-0a1b2c3d4e5f';
const OTHER_ROW = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

describe('SecretKeyring', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  it('round-trips a secret, with a fresh IV each time and no plaintext in the stored bytes', () => {
    const keyring = new SecretKeyring({ current: newKey });
    const a = sealWebhookSecret(keyring, ROW, SECRET);
    const b = sealWebhookSecret(keyring, ROW, SECRET);

    expect(a.keyId).toBe(secretKeyId(newKey));
    expect(a.keyId).toMatch(/^[0-9a-f]{8}$/);
    expect(a.sealed.equals(b.sealed)).toBe(false);
    expect(a.sealed.includes(SECRET.slice(6))).toBe(false);
    expect(a.sealed.toString('latin1')).not.toContain('whsec_');
    expect(openWebhookSecret(keyring, ROW, a)).toBe(SECRET);
    // Version, 12-byte IV, the 50-byte secret, 16-byte tag.
    expect(a.sealed).toHaveLength(1 + 12 + SECRET.length + 16);
  });

  it('binds a secret to its row: moved to another row, it does not open', () => {
    const keyring = new SecretKeyring({ current: newKey });
    const sealed = sealWebhookSecret(keyring, ROW, SECRET);

    expect(() => openWebhookSecret(keyring, OTHER_ROW, sealed)).toThrow(SecretDecryptionError);
  });

  it('refuses an altered value, naming the row and never the secret', () => {
    const keyring = new SecretKeyring({ current: newKey });
    const sealed = sealWebhookSecret(keyring, ROW, SECRET);
    const altered = Buffer.from(sealed.sealed);
    altered[20] = (altered[20] ?? 0) ^ 1;

    const error = catchError(() => openWebhookSecret(keyring, ROW, { ...sealed, sealed: altered }));
    expect(error).toBeInstanceOf(SecretDecryptionError);
    expect(error.message).toContain(`the webhook secret of API key ${ROW}`);
    expect(error.message).not.toContain(SECRET.slice(6, 20));
    expect(() =>
      openWebhookSecret(keyring, ROW, { ...sealed, sealed: sealed.sealed.subarray(0, 20) }),
    ).toThrow(SecretDecryptionError);
  });

  it('opens what the previous key sealed, and seals only under the current one', () => {
    const before = sealWebhookSecret(new SecretKeyring({ current: oldKey }), ROW, SECRET);
    const keyring = new SecretKeyring({ current: newKey, previous: oldKey });

    expect(openWebhookSecret(keyring, ROW, before)).toBe(SECRET);
    expect(sealWebhookSecret(keyring, ROW, SECRET).keyId).toBe(secretKeyId(newKey));
  });

  it('names the missing key and what to set when a value was sealed under a key it does not hold', () => {
    const sealed = sealWebhookSecret(new SecretKeyring({ current: oldKey }), ROW, SECRET);
    const keyring = new SecretKeyring({ current: newKey });

    const error = catchError(() => openWebhookSecret(keyring, ROW, sealed));
    expect(error).toBeInstanceOf(SecretKeyUnavailableError);
    expect(error.message).toBe(
      `cannot decrypt the webhook secret of API key ${ROW}: it was sealed under key id ${secretKeyId(oldKey)}, ` +
        `which is neither SECRETS_KEY (key id ${secretKeyId(newKey)}) nor SECRETS_KEY_PREVIOUS (unset). ` +
        'Set SECRETS_KEY_PREVIOUS to the key that sealed it (or put SECRETS_KEY back if it was changed by mistake), ' +
        'then run `lowburn secrets rotate`',
    );
  });

  it('does not open a value whose key id was edited to another key it holds', () => {
    const sealed = sealWebhookSecret(new SecretKeyring({ current: oldKey }), ROW, SECRET);
    const keyring = new SecretKeyring({ current: newKey, previous: oldKey });

    expect(() =>
      openWebhookSecret(keyring, ROW, { ...sealed, keyId: secretKeyId(newKey) }),
    ).toThrow(SecretDecryptionError);
  });

  it('refuses to seal without SECRETS_KEY, with a ConfigError naming it', () => {
    const keyring = new SecretKeyring({ previous: oldKey });
    expect(() => sealWebhookSecret(keyring, ROW, SECRET)).toThrow(ConfigError);
    expect(() => sealWebhookSecret(keyring, ROW, SECRET)).toThrow(/SECRETS_KEY: is required/);
  });
});

function catchError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
