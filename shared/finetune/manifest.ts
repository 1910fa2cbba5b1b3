import { indexTester, type UserIndex } from '../cold/user-index.ts';
import { readText } from '../storage/read-text.ts';
import type { ObjectStorage } from '../storage/storage.ts';

// The fine-tune sets' manifest (`finetune/<task>/<day>/manifest.json`): written by the
// `export-finetune` job, read by the erasures (to find and remove sets that hold an erased
// user) and by `--verify`.

/** min / median / p90 / max of a distribution, as the cookbook prints them. */
export interface Distribution {
  min: number;
  median: number;
  p90: number;
  max: number;
}

/** One file of an export, as its manifest lists it. */
export interface FinetuneManifestFile {
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
  files: FinetuneManifestFile[];
  exportedAt: string;
  lowburnVersion: string;
  /**
   * Who the set's examples came from: a Bloom filter over the keyed erasure hash of each user
   * (`erasureHash`, HMAC under `SECRETS_KEY`), so an erasure finds the sets that may hold its user
   * without the manifest naming anyone, and no one without the key can test a guessed id. Absent
   * in sets written without `SECRETS_KEY` or before the index existed: an erasure treats those as
   * holding anyone.
   */
  users?: UserIndex;
  /** Set when the set was rebuilt without erased users: when, and for which erasures. */
  rebuilt?: FinetuneErasure;
}

/** Erasures that removed a set (its tombstone) or that a rebuild left out. */
export interface FinetuneErasure {
  at: string;
  /** The keyed hashes of the erased users (never their ids). */
  userHashes: string[];
  /** Examples the set held before. */
  written: number;
}

/**
 * What `apply-erasures` leaves of a set that may hold an erased user: the manifest says why its
 * files are gone and what it was built from, so a rebuild (enqueued at once) writes it again
 * from the same request without the erased users.
 */
export interface FinetuneTombstone {
  format: 'lowburn.finetune.v1';
  lineFormat: FinetuneManifest['lineFormat'];
  source: Pick<FinetuneManifest['source'], 'task' | 'since' | 'until' | 'include'>;
  erased: FinetuneErasure & { reason: string };
  files: [];
  exportedAt: string;
  lowburnVersion: string;
}

export const manifestName = 'manifest.json';

/** Where fine-tune sets live: `finetune/<task or all>/<YYYY-MM-DD>/`. */
export const FINETUNE_ROOT = 'finetune/';
export const finetunePrefixPattern = /^finetune\/[a-z0-9_-]+\/\d{4}-\d{2}-\d{2}\/$/;

/** A set as its manifest describes it: published, or removed by an erasure. */
export type FinetuneSet =
  | { prefix: string; kind: 'published'; manifest: FinetuneManifest }
  | { prefix: string; kind: 'erased'; manifest: FinetuneTombstone };

/** The manifest at `prefix`, or `undefined` when the folder has none (an export cut short). */
export async function readFinetuneSet(
  storage: ObjectStorage,
  prefix: string,
): Promise<FinetuneSet | undefined> {
  const text = await readText(storage, `${prefix}${manifestName}`);
  if (text === undefined) return undefined;
  const manifest = JSON.parse(text) as FinetuneManifest | FinetuneTombstone;
  return 'erased' in manifest
    ? { prefix, kind: 'erased', manifest }
    : { prefix, kind: 'published', manifest };
}

/** Every set under `finetune/` with a manifest, in key order. */
export async function* finetuneSets(storage: ObjectStorage): AsyncGenerator<FinetuneSet> {
  for await (const object of storage.list(FINETUNE_ROOT)) {
    if (!object.key.endsWith(`/${manifestName}`)) continue;
    const prefix = object.key.slice(0, -manifestName.length);
    const set = await readFinetuneSet(storage, prefix);
    if (set) yield set;
  }
}

/** The keys of a set's files: every object in its folder but the manifest. */
export async function setFileKeys(storage: ObjectStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of storage.list(prefix)) {
    if (object.key !== `${prefix}${manifestName}`) keys.push(object.key);
  }
  return keys;
}

/**
 * The users of `userHashes` (keyed erasure hashes) the published set may hold: those its index
 * may hold (no false negatives; 0.01 % false positives), or every one when it has no index.
 */
export function setMayHold(manifest: FinetuneManifest, userHashes: readonly string[]): string[] {
  if (!manifest.users) return [...userHashes];
  const test = indexTester(manifest.users);
  return userHashes.filter((hash) => test(userHashKey(hash)));
}

/** The key a user enters a set's index under: their keyed erasure hash. */
export const userHashKey = (userHash: string) => `h:${userHash}`;
