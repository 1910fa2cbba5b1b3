import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import {
  type FinetuneManifest,
  type FinetuneManifestFile as ManifestFile,
  manifestName,
} from '../../shared/finetune/manifest.ts';
import type { ObjectStorage, PutBody } from '../../shared/storage/storage.ts';

/** A file to publish: from a staged local file, or small text (the Modelfile). */
export interface PublishFile {
  name: ManifestFile['name'];
  body: PutBody;
  bytes: number;
  sha256: string;
  lines?: number;
}

/**
 * Publishes an export under `prefix` so that a reader sees one complete set or none: the old
 * manifest goes first (a manifest never names files other than the ones it hashes), then each
 * file is put (atomically, checked against its SHA-256 on the way) and read back by `head`, and
 * the new manifest comes last. A crash before the manifest leaves a folder without one, which
 * readers skip and the next run (a retry, or the next week) rewrites whole.
 */
export async function publish(
  storage: ObjectStorage,
  prefix: string,
  files: PublishFile[],
  manifest: (files: ManifestFile[]) => FinetuneManifest,
  afterStep?: (step: string) => void,
  /**
   * The folder holds an erasure's tombstone (a manifest naming no file): it stays until the new
   * manifest replaces it, so a rebuild cut short is still found and retried.
   */
  overTombstone = false,
): Promise<FinetuneManifest> {
  if (!overTombstone) await storage.delete(`${prefix}${manifestName}`);
  const listed: ManifestFile[] = [];
  for (const file of files) {
    const key = `${prefix}${file.name}`;
    await storage.put(key, file.body, {
      expectedSha256: file.sha256,
      contentType: file.name === 'Modelfile' ? 'text/plain' : 'application/jsonl',
    });
    afterStep?.(`uploaded ${file.name}`);
    listed.push({
      name: file.name,
      key,
      bytes: file.bytes,
      sha256: file.sha256,
      ...(file.lines !== undefined && { lines: file.lines }),
    });
  }
  for (const file of listed) {
    const info = await storage.head(file.key);
    if (info?.size !== file.bytes || (info.sha256 !== undefined && info.sha256 !== file.sha256)) {
      throw new ExportVerificationError(
        `${file.key} reads back as ${info ? `${info.size} bytes, sha256 ${info.sha256}` : 'missing'}; wrote ${file.bytes} bytes, sha256 ${file.sha256}`,
      );
    }
  }
  const done = manifest(listed);
  await storage.put(`${prefix}${manifestName}`, `${JSON.stringify(done, null, 2)}\n`, {
    contentType: 'application/json',
  });
  afterStep?.('published');
  return done;
}
