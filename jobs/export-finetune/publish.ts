import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import type { ObjectStorage, PutBody } from '../../shared/storage/storage.ts';
import type { Distribution } from './tokens.ts';

/** One file of an export, as its manifest lists it. */
export interface ManifestFile {
  name: 'train.jsonl' | 'validation.jsonl' | 'Modelfile';
  key: string;
  bytes: number;
  sha256: string;
  /** Examples in a JSONL file. */
  lines?: number;
}

/** `manifest.json`: what an export read, kept, dropped and wrote, and how to check it. */
export interface FinetuneManifest {
  format: 'lowburn.finetune.v1';
  lineFormat: 'openai' | 'sharegpt';
  source: {
    task: string | null;
    since: string;
    until: string;
    include: string[];
    /** Hot rows loaded from Postgres and cold files read, over the range's days. */
    hotRows: number;
    coldFiles: number;
  };
  /** Rows and examples at each stage, in order. */
  counts: {
    read: number;
    readByKind: Record<string, number>;
    /** Left after the exact dedup by normalised conversation (newest kept). */
    deduped: number;
    /** Replacements made by the scrubber, per PII class (in every row scrubbed). */
    scrubbed: Record<string, number>;
    /** Examples in which at least one replacement was made. */
    scrubbedExamples: number;
    dropped: {
      unreadableRequest: number;
      /** Still holding a secret after scrubbing, by its class. */
      secret: Record<string, number>;
      /** Identical to a newer example once scrubbed. */
      duplicateAfterScrub: number;
      /** Over `maxTokens` (never truncated). */
      overMaxTokens: number;
    };
    written: number;
    split: { train: number; validation: number };
    writtenByKind: Record<string, number>;
  };
  split: { validationPercent: 10; by: string; overlap: 0 };
  tokens: {
    tokenizer: string;
    /** Examples counted exactly because their size could exceed `maxTokens`. */
    exactlyCounted: number;
    maxTokens: number;
    train: {
      total: number;
      perExample: Distribution | null;
      assistantPerExample: Distribution | null;
      messagesPerExample: Distribution | null;
    };
    validation: { total: number; perExample: Distribution | null };
    /** What OpenAI would bill training on `train.jsonl`, per the cookbook's default-epochs rule. */
    billing: { epochs: number; billingTokensPerEpoch: number; billedTokens: number };
  };
  localModel: { name: string; version: string; digest: string | null };
  files: ManifestFile[];
  exportedAt: string;
  lowburnVersion: string;
}

export const manifestName = 'manifest.json';

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
): Promise<FinetuneManifest> {
  await storage.delete(`${prefix}${manifestName}`);
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
