import type { StorageConfig } from '../config/load-config.ts';
import { FileStorage } from './file-storage.ts';
import type { ObjectStorage } from './storage.ts';

/**
 * Builds the driver `STORAGE_URL` chose at boot (`file:` or `s3://`). Workers receive the result,
 * so nothing below `workers/` needs to know which driver is in use; call `close()` on shutdown.
 * The S3 driver is loaded only when chosen: the AWS SDK alone is ~30 MB of a worker's RSS.
 */
export async function createStorage(config: StorageConfig): Promise<ObjectStorage> {
  switch (config.driver) {
    case 'file':
      return new FileStorage({ root: config.root });
    case 's3': {
      const { S3Storage } = await import('./s3-storage.ts');
      return new S3Storage(config);
    }
  }
}
