import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StorageConfig } from '../config/load-config.ts';
import { ChecksumMismatchError } from '../errors/checksum-mismatch-error.ts';
import { ObjectNotFoundError } from '../errors/object-not-found-error.ts';
import { assertValidKey, assertValidPrefix, assertValidRange, isValidKey } from './object-key.ts';
import { hashedBody, sha256Of, sha256OfFile } from './sha256.ts';
import type { ObjectInfo, ObjectStorage, PutBody, PutOptions } from './storage.ts';

export type S3StorageConfig = Extract<StorageConfig, { driver: 's3' }>;

export interface S3StorageOptions {
  /**
   * Bytes per multipart part; `Upload` buffers up to `partSize * queueSize` in memory.
   * @defaultValue 8 MiB
   */
  partSize?: number;
  /** Parts uploaded in parallel. @defaultValue 4 */
  queueSize?: number;
  /** Keys per ListObjectsV2 request; tests lower it to exercise pagination. @defaultValue 1000 */
  listPageSize?: number;
  /** HEAD requests in flight while `list` fetches each object's sha256. @defaultValue 8 */
  listHeadConcurrency?: number;
}

// CopyObject refuses sources above 5 GiB; see recordSha256.
const MAX_COPY_BYTES = 5 * 1024 ** 3;

/**
 * Object storage in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, s3rver in tests). Every
 * key lives under the configured prefix, so one bucket can serve several installs.
 */
export class S3Storage implements ObjectStorage {
  readonly kind = 's3' as const;
  readonly bucket: string;
  /** The configured prefix without surrounding slashes; `''` means the bucket root. */
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #options: Required<S3StorageOptions>;

  constructor(config: S3StorageConfig, options: S3StorageOptions = {}) {
    this.bucket = config.bucket;
    this.prefix = config.prefix.replace(/^\/+|\/+$/g, '');
    // R2 has rejected the CRC checksums SDK >= 3.729 sends by default; 'when_required' stops them.
    const checksums = config.checksumMode === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    this.#client = new S3Client({
      region: config.region,
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
    });
    this.#options = {
      partSize: options.partSize ?? 8 * 1024 * 1024,
      queueSize: options.queueSize ?? 4,
      listPageSize: options.listPageSize ?? 1000,
      listHeadConcurrency: options.listHeadConcurrency ?? 8,
    };
  }

  /**
   * Streams the body through a SHA-256 hasher into a (multipart when large) upload. S3 publishes
   * an object only when the upload completes, so readers never see part of one.
   *
   * Metadata must be sent before the first byte, so the `sha256` stamped on the object is the
   * expected hash, or one computed up front for strings, bytes and files. A stream without
   * `expectedSha256` is hashed in flight and stamped afterwards by copying the object onto
   * itself; above 5 GiB (CopyObject's limit) it stays unstamped: pass `expectedSha256` there.
   *
   * On a mismatch the object is deleted, so overwriting a key with bad bytes also removes the
   * previous version (S3 has no rename to make that atomic).
   */
  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    const objectKey = this.#objectKey(key);
    const known = options.expectedSha256?.toLowerCase() ?? (await sha256Upfront(body));
    const hasher = hashedBody(body);
    let etag: string | undefined;
    try {
      const upload = new Upload({
        client: this.#client,
        partSize: this.#options.partSize,
        queueSize: this.#options.queueSize,
        params: {
          Bucket: this.bucket,
          Key: objectKey,
          Body: hasher,
          ContentType: options.contentType,
          Metadata: known === undefined ? undefined : { sha256: known },
        },
      });
      ({ ETag: etag } = await upload.done());
    } catch (error) {
      hasher.destroy(); // closes a file or stream source the failed upload stopped reading
      throw error;
    }
    const actual = hasher.sha256;
    if (known !== undefined && known !== actual) {
      await this.#deleteObject(objectKey);
      throw new ChecksumMismatchError(key, known, actual);
    }
    if (known === undefined && hasher.bytesHashed <= MAX_COPY_BYTES) {
      await this.#recordSha256(objectKey, actual, etag, options.contentType);
    }
    const info = await this.head(key);
    return {
      key,
      size: info?.size ?? hasher.bytesHashed,
      sha256: actual,
      lastModified: info?.lastModified ?? new Date(),
    };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const objectKey = this.#objectKey(key);
    if (range) assertValidRange(range);
    try {
      const output = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      if (output.Body instanceof Readable) return output.Body;
      throw new Error(`GetObject returned an unexpected body type for "${key}"`);
    } catch (error) {
      if (errorName(error) === 'NoSuchKey' || httpStatus(error) === 404) {
        throw new ObjectNotFoundError(key, { cause: error });
      }
      if (errorName(error) === 'InvalidRange' || httpStatus(error) === 416) {
        throw new RangeError(`Range ${range?.start}-${range?.end} is outside "${key}"`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const objectKey = this.#objectKey(key);
    try {
      const output = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }),
      );
      return {
        key,
        size: output.ContentLength ?? 0,
        sha256: output.Metadata?.sha256,
        lastModified: output.LastModified ?? new Date(0),
      };
    } catch (error) {
      // HEAD responses have no body, so the SDK can only say "NotFound" from the status code.
      if (errorName(error) === 'NotFound' || httpStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Pages through ListObjectsV2 (already in key order). A listing carries no user metadata, so
   * each object's sha256 costs one HEAD (`listHeadConcurrency` at a time); objects deleted
   * between the listing and their HEAD are skipped, as the file driver skips them.
   */
  async *list(prefix: string): AsyncGenerator<ObjectInfo> {
    assertValidPrefix(prefix);
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    let continuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: base + prefix,
          MaxKeys: this.#options.listPageSize,
          ContinuationToken: continuationToken,
        }),
      );
      // Keys lowburn cannot address (a console's `folder/` marker, `a//b`) are skipped, as the
      // file driver skips such file names.
      const keys = (page.Contents ?? [])
        .map((o) => o.Key?.slice(base.length) ?? '')
        .filter(isValidKey);
      for (let i = 0; i < keys.length; i += this.#options.listHeadConcurrency) {
        const batch = keys.slice(i, i + this.#options.listHeadConcurrency);
        for (const info of await Promise.all(batch.map((k) => this.head(k)))) {
          if (info) yield info;
        }
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  async delete(key: string): Promise<void> {
    await this.#deleteObject(this.#objectKey(key));
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  /**
   * Stamps the hash computed in flight by copying the object onto itself with new metadata.
   * `CopySourceIfMatch` makes sure the stamp lands on our bytes: if another writer replaced the
   * object meanwhile, S3 answers 412 and their object is left as they wrote it.
   */
  async #recordSha256(
    objectKey: string,
    sha256: string,
    etag: string | undefined,
    contentType: string | undefined,
  ): Promise<void> {
    try {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          CopySource: `${this.bucket}/${objectKey.split('/').map(encodeURIComponent).join('/')}`,
          CopySourceIfMatch: etag,
          MetadataDirective: 'REPLACE',
          Metadata: { sha256 },
          // REPLACE replaces every header, so the content type must be sent again.
          ContentType: contentType,
        }),
      );
    } catch (error) {
      if (httpStatus(error) !== 412) throw error;
    }
  }

  async #deleteObject(objectKey: string): Promise<void> {
    // S3 answers 204 for a missing key, so deleting twice is not an error.
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
  }

  #objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }
}

/** The hash of bodies that can be read before uploading; `undefined` for streams. */
async function sha256Upfront(body: PutBody): Promise<string | undefined> {
  if (typeof body === 'string' || body instanceof Uint8Array) return sha256Of(body);
  if ('file' in body && typeof body.file === 'string') return sha256OfFile(body.file);
  return undefined;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}
