import type { Readable } from 'node:stream';

/** What a stored object is known by. `sha256` is hex, computed by lowburn while writing. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Hex SHA-256 of the bytes, as recorded at put time; `undefined` if the object was written by something else. */
  sha256: string | undefined;
  lastModified: Date;
}

export type PutBody = Readable | Uint8Array | string | { file: string };

export interface PutOptions {
  contentType?: string;
  /** When given, the put fails with a `ChecksumMismatchError` (and leaves no object) if the bytes differ. */
  expectedSha256?: string;
}

/**
 * Object storage, as lowburn uses it: cold Parquet, manifests, fine-tune exports.
 * Keys are `/`-separated and relative to the configured bucket prefix or folder.
 */
export interface ObjectStorage {
  readonly kind: 'file' | 's3';
  /** Writes an object atomically (readers never see a partial object) and returns what was stored. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<ObjectInfo>;
  /** Streams an object; throws `ObjectNotFoundError` when it does not exist. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** `undefined` when the object does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes an object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Releases sockets or handles. */
  close(): Promise<void>;
}
