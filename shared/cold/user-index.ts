import { createHash } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { quoteIdent, quoteLiteral } from '../duckdb/duckdb.ts';

/**
 * Which users and devices a cold file may hold, written into its manifest entry at export time
 * so an erasure rewrites only the files that hold someone it erases. A Bloom filter over
 * `u:<user id>` and `d:<device id>`: 2.4 bytes per id at a 0.01 % false-positive rate (24 KB
 * for 10,000 users, against ~370 KB for the ids themselves in every manifest read), never a
 * false negative. A batch of 100 erasures then wrongly picks ~1 % of files; a false positive
 * costs one DuckDB scan of the file, never a rewrite: the rewrite counts the rows it would
 * remove first.
 */
export const userIndexSchema = z.object({
  format: z.literal('bloom.sha256.v1'),
  /** Filter size in bits. */
  bits: z.number().int().positive(),
  hashes: z.number().int().positive(),
  /** Distinct ids added. */
  ids: z.number().int().nonnegative(),
  /** The filter, base64. */
  filter: z.string(),
});
export type UserIndex = z.infer<typeof userIndexSchema>;

// 0.01 % false positives: bits = -n·ln(p)/ln(2)² ≈ 19.2 n, hashes = bits/n · ln 2 ≈ 13.
const BITS_PER_ID = 19.2;
const HASHES = 13;

/** The columns of each cold table naming a person or their device. */
export const userColumns: Record<string, { user: string; device?: string }> = {
  telemetry: { user: 'user_id', device: 'device_id' },
  generations: { user: 'user_id' },
};

export const userKey = (id: string) => `u:${id}`;
export const deviceKey = (id: string) => `d:${id}`;

// Double hashing (Kirsch–Mitzenmacher): two 32-bit halves of one SHA-256 give every probe.
function probes(key: string, bits: number, hashes: number): number[] {
  const digest = createHash('sha256').update(key).digest();
  const a = digest.readUInt32BE(0);
  const b = digest.readUInt32BE(4) | 1;
  return Array.from({ length: hashes }, (_, i) => (a + Math.imul(i, b)) >>> 0).map((h) => h % bits);
}

/** A filter holding every key of `keys` (see `userKey`, `deviceKey`). */
export function buildUserIndex(keys: readonly string[]): UserIndex {
  const bits = Math.max(64, Math.ceil((keys.length * BITS_PER_ID) / 8) * 8);
  const filter = Buffer.alloc(bits / 8);
  for (const key of keys) {
    for (const p of probes(key, bits, HASHES))
      filter[p >> 3] = (filter[p >> 3] as number) | (1 << (p & 7));
  }
  return {
    format: 'bloom.sha256.v1',
    bits,
    hashes: HASHES,
    ids: keys.length,
    filter: filter.toString('base64'),
  };
}

/**
 * A test against one file's index: `false` when the file certainly holds no row of `key`, `true`
 * when it may. The filter is decoded once, for every key tested.
 */
export function indexTester(index: UserIndex): (key: string) => boolean {
  const filter = Buffer.from(index.filter, 'base64');
  return (key) =>
    probes(key, index.bits, index.hashes).every(
      (p) => ((filter[p >> 3] as number) & (1 << (p & 7))) !== 0,
    );
}

/** `false` when the file certainly holds no row of `key`; `true` when it may. */
export const indexMayHold = (index: UserIndex, key: string) => indexTester(index)(key);

/** The index of a local Parquet file of `table`: one DuckDB scan of its id columns. */
export async function userIndexOfFile(
  duck: DuckDBConnection,
  table: string,
  file: string,
): Promise<UserIndex | undefined> {
  const columns = userColumns[table];
  if (!columns) return undefined;
  const source = `read_parquet(${quoteLiteral(file)})`;
  const selects = [
    `SELECT DISTINCT 'u:' || ${quoteIdent(columns.user)} AS k FROM ${source} WHERE ${quoteIdent(columns.user)} IS NOT NULL`,
    ...(columns.device
      ? [
          `SELECT DISTINCT 'd:' || ${quoteIdent(columns.device)} FROM ${source} WHERE ${quoteIdent(columns.device)} IS NOT NULL`,
        ]
      : []),
  ];
  const reader = await duck.runAndReadAll(selects.join(' UNION ALL '));
  return buildUserIndex(reader.getRows().map((r) => String(r[0])));
}
