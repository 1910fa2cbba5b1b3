/**
 * Thrown when a key cannot name an object: it is empty, absolute, contains `..`, `.`, empty
 * segments or backslashes, or uses a name the drivers reserve. Both drivers apply the same rules so
 * that a key accepted in development (file driver) is accepted in production (S3), and no key can
 * escape the file driver's root folder. Permanent: retrying with the same key fails again.
 */
export class InvalidObjectKeyError extends Error {
  readonly key: string;
  /** Why the key was rejected, e.g. `contains a ".." segment`. */
  readonly reason: string;

  constructor(key: string, reason: string) {
    super(`Invalid object key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidObjectKeyError';
    this.key = key;
    this.reason = reason;
  }
}
