/**
 * A stored secret did not authenticate under the key its row names (AES-GCM tag mismatch): the
 * value was altered, truncated, or copied from another row (each value is bound to its own row).
 * No key setting fixes this, and the garbage it would decrypt to is never used.
 */
export class SecretDecryptionError extends Error {
  /** The key id stored with the value. */
  readonly keyId: string;
  /** What the value belongs to, e.g. `the webhook secret of API key 3f…`. */
  readonly subject: string;

  constructor(subject: string, keyId: string, options?: ErrorOptions) {
    super(
      `cannot decrypt ${subject}: it does not authenticate under key id ${keyId} (the stored value was ` +
        'altered or copied from another row). Restore the row from a backup, or create a new API key',
      options,
    );
    this.name = 'SecretDecryptionError';
    this.keyId = keyId;
    this.subject = subject;
  }
}
