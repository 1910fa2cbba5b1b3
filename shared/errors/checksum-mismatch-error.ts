/**
 * Thrown by `ObjectStorage.put` when the bytes written do not hash to `expectedSha256`. The put
 * leaves no object behind, so a retry starts clean; the mismatch usually means the source changed
 * or was truncated, so retrying with the same bytes will fail again.
 */
export class ChecksumMismatchError extends Error {
  readonly key: string;
  /** Hex SHA-256 the caller expected. */
  readonly expected: string;
  /** Hex SHA-256 of the bytes actually received. */
  readonly actual: string;

  constructor(key: string, expected: string, actual: string) {
    super(`Checksum mismatch for "${key}": expected sha256 ${expected}, got ${actual}`);
    this.name = 'ChecksumMismatchError';
    this.key = key;
    this.expected = expected;
    this.actual = actual;
  }
}
