import type { StorageConfig } from '../config/load-config.ts';
import { FileStorage } from './file-storage.ts';
import { S3Storage } from './s3-storage.ts';
import type { ObjectStorage } from './storage.ts';

/**
 * Builds the driver `STORAGE_URL` chose at boot (`file:` or `s3://`). Workers receive the result,
 * so nothing below `workers/` needs to know which driver is in use; call `close()` on shutdown.
 */
export function createStorage(config: StorageConfig): ObjectStorage {
  switch (config.driver) {
    case 'file':
      return new FileStorage({ root: config.root });
    case 's3':
      return new S3Storage(config);
  }
}
