import { z } from 'zod';
import type { PartitionedTable } from '../db/partitions.ts';
import { readText } from '../storage/read-text.ts';
import type { ObjectStorage } from '../storage/storage.ts';
import { userIndexSchema } from './user-index.ts';

/**
 * Where cold data lives in object storage: Hive-style `dt=` folders, so DuckDB and any other
 * reader prune by day, with one `_manifest.json` per day naming the files that count.
 *
 *     cold/<table>/dt=YYYY-MM-DD/part-00000.parquet
 *     cold/<table>/dt=YYYY-MM-DD/_manifest.json
 */
export const coldLayout = {
  dayPrefix: (table: string, day: string) => `cold/${table}/dt=${day}/`,
  partName: (index: number) => `part-${String(index).padStart(5, '0')}.parquet`,
  partKey: (table: string, day: string, index: number) =>
    `${coldLayout.dayPrefix(table, day)}${coldLayout.partName(index)}`,
  manifestKey: (table: string, day: string) => `${coldLayout.dayPrefix(table, day)}_manifest.json`,
};

export const manifestFileSchema = z.object({
  key: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** `partition`: the day's partition; `late`: rows that arrived after it was exported. */
  source: z.enum(['partition', 'late']),
  /** Which users and devices the file may hold (see `user-index.ts`); absent in older days. */
  users: userIndexSchema.optional(),
});
export type ManifestFile = z.infer<typeof manifestFileSchema>;

/** An erasure batch applied to a day: who (keyed hashes, never an id), and what it removed. */
export const manifestErasureSchema = z.object({
  appliedAt: z.iso.datetime(),
  /** `erasures.user_hash` of every erasure in the batch that removed rows from the day. */
  userHashes: z.array(z.string()),
  rows: z.number().int().nonnegative(),
  /** `from` → `to`: the files rewritten. */
  files: z.array(z.object({ from: z.string(), to: z.string(), removed: z.number().int() })),
});
export type ManifestErasure = z.infer<typeof manifestErasureSchema>;

export const manifestSchema = z.object({
  format: z.literal('lowburn.cold.v1'),
  table: z.string(),
  day: z.iso.date(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  files: z.array(manifestFileSchema),
  /** Every column in any file, in table order; DuckDB type and the Postgres type it came from. */
  columns: z.array(z.object({ name: z.string(), type: z.string(), postgresType: z.string() })),
  exportedAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  lowburnVersion: z.string(),
  /** Erasures applied to the day, oldest first (absent when none). */
  erasures: z.array(manifestErasureSchema).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/**
 * Advisory lock held by whatever writes a day's cold files (`export-cold`, `apply-erasures`): one
 * writer of the cold store at a time across the fleet (see `takeColdWriteLock`).
 */
export const COLD_WRITE_LOCK = 0x6c62_0e11;

/** The manifest of a day, or `undefined` when the day has none (not exported, or not verified). */
export async function readManifest(
  storage: ObjectStorage,
  table: PartitionedTable | string,
  day: string,
): Promise<Manifest | undefined> {
  const key = coldLayout.manifestKey(table, day);
  const text = await readText(storage, key);
  if (text === undefined) return undefined;
  const parsed = manifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`${key} is not a lowburn manifest: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  return parsed.data;
}
