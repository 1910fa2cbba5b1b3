export { ChecksumMismatchError } from '../errors/checksum-mismatch-error.ts';
export { InvalidObjectKeyError } from '../errors/invalid-object-key-error.ts';
export { ObjectNotFoundError } from '../errors/object-not-found-error.ts';
export { createStorage } from './create-storage.ts';
export { FileStorage, type FileStorageOptions } from './file-storage.ts';
export { assertValidKey, assertValidPrefix, compareKeys } from './object-key.ts';
export { S3Storage, type S3StorageConfig, type S3StorageOptions } from './s3-storage.ts';
export { hashedBody, Sha256Transform, sha256Of, sha256OfFile } from './sha256.ts';
export type { ObjectInfo, ObjectStorage, PutBody, PutOptions } from './storage.ts';
