/**
 * A stored secret was sealed under a key this process does not hold: neither `SECRETS_KEY` nor
 * `SECRETS_KEY_PREVIOUS` has its key id. An operator's mistake (a key changed without keeping the
 * old one as previous), fixed by setting the variable: nothing was decrypted, nothing is lost.
 */
export class SecretKeyUnavailableError extends Error {
  /** The key id stored with the value. */
  readonly keyId: string;
  /** What the value belongs to, e.g. `the webhook secret of API key 3f…`. */
  readonly subject: string;

  constructor(subject: string, keyId: string, held: { current?: string; previous?: string }) {
    const current = held.current ? `SECRETS_KEY (key id ${held.current})` : 'SECRETS_KEY (unset)';
    const previous = held.previous
      ? `SECRETS_KEY_PREVIOUS (key id ${held.previous})`
      : 'SECRETS_KEY_PREVIOUS (unset)';
    super(
      `cannot decrypt ${subject}: it was sealed under key id ${keyId}, which is neither ${current} nor ${previous}. ` +
        'Set SECRETS_KEY_PREVIOUS to the key that sealed it (or put SECRETS_KEY back if it was changed by mistake), ' +
        'then run `lowburn secrets rotate`',
    );
    this.name = 'SecretKeyUnavailableError';
    this.keyId = keyId;
    this.subject = subject;
  }
}
