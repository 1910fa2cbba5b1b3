import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ManifestFile } from '../../shared/cold/layout.ts';
import { userIndexOfFile } from '../../shared/cold/user-index.ts';
import { quoteLiteral } from '../../shared/duckdb/duckdb.ts';
import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import { Sha256Transform, sha256OfFile } from '../../shared/storage/sha256.ts';
import type { EraseContext } from './context.ts';
import { type ErasedSet, erasedRowSql, removedCountsSql } from './erased-set.ts';

/** A cold file rewritten locally without the erased rows, ready to upload. */
export interface RewrittenFile {
  old: ManifestFile;
  /** The replacement, as the manifest will list it. */
  entry: ManifestFile;
  local: string;
  /** Rows removed per erasure id (only erasures that matched). */
  removed: Record<string, number>;
}

/**
 * `part-00003.parquet` → `part-00003-r1.parquet` → `part-00003-r2.parquet`: a replacement never
 * reuses a key a reader may have cached (the query cache trusts a key and size), and a rerun of
 * the same rewrite writes the same key.
 */
export function replacementKey(key: string): string {
  const match = /^(.*?)(?:-r(\d+))?\.parquet$/.exec(key);
  if (!match) throw new Error(`${key} is not a Parquet part key`);
  return `${match[1]}-r${Number(match[2] ?? 0) + 1}.parquet`;
}

/**
 * An object key as one file or folder name, its day and part both in it — without `=` or `/`,
 * so DuckDB sees no Hive partition (`dt=…`) in the path and adds no column.
 */
const flatKey = (key: string) => key.replace(/[^A-Za-z0-9.-]/g, '_');

/** Downloads an object, checking its SHA-256 against the manifest on the way. */
export async function fetchVerified(
  ctx: EraseContext,
  file: Pick<ManifestFile, 'key' | 'sha256'>,
  local: string,
): Promise<void> {
  await mkdir(join(local, '..'), { recursive: true });
  const hasher = new Sha256Transform();
  await pipeline(await ctx.storage.get(file.key), hasher, createWriteStream(local));
  if (hasher.sha256 !== file.sha256) {
    throw new ExportVerificationError(
      `${file.key} read back with sha256 ${hasher.sha256}, expected ${file.sha256}`,
    );
  }
}

async function count(ctx: EraseContext, sql: string): Promise<bigint[]> {
  const reader = await ctx.duck.runAndReadAll(sql);
  return (reader.getRows()[0] ?? []).map((v) => BigInt(v as bigint));
}

/**
 * Fetches a cold file, counts the rows the set erases (one scan), and when there are any,
 * writes the file again without them (zstd Parquet, same columns and order). `undefined` when
 * the file holds none (its index gave a false positive, or it had no index).
 */
export async function rewriteFile(
  ctx: EraseContext,
  table: string,
  file: ManifestFile,
  set: ErasedSet,
): Promise<RewrittenFile | undefined> {
  // One folder per object: days' parts share their names (`part-00000.parquet`), and DuckDB's
  // file cache, keyed by path, once served the previous day's blocks for the next day's file
  // fetched to the same path (a ZSTD decompression failure in CI).
  const dir = join(ctx.workDir, 'erase', flatKey(file.key));
  const original = join(dir, `old-${basename(file.key)}`);
  await fetchVerified(ctx, file, original);
  try {
    const source = `read_parquet(${quoteLiteral(original)})`;
    const [total = 0n, ...per] = await count(ctx, removedCountsSql(table, set, source));
    if (total === 0n) return undefined;
    const key = replacementKey(file.key);
    const local = join(dir, basename(key));
    await ctx.duck.run(
      `COPY (SELECT * FROM ${source} WHERE NOT ${erasedRowSql(table)})
       TO ${quoteLiteral(`${local}.tmp`)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 32768)`,
    );
    await rename(`${local}.tmp`, local);
    const [rows = 0n] = await count(
      ctx,
      `SELECT count(*) FROM read_parquet(${quoteLiteral(local)})`,
    );
    if (Number(rows) !== file.rows - Number(total)) {
      throw new ExportVerificationError(
        `${key} holds ${rows} rows, expected ${file.rows} − ${total} erased`,
      );
    }
    const users = await userIndexOfFile(ctx.duck, table, local);
    const removed: Record<string, number> = {};
    set.erasures.forEach((e, i) => {
      const n = Number(per[i] ?? 0n);
      if (n > 0) removed[e.id] = n;
    });
    return {
      old: file,
      local,
      removed,
      entry: {
        key,
        rows: Number(rows),
        bytes: (await stat(local)).size,
        sha256: await sha256OfFile(local),
        source: file.source,
        ...(users && { users }),
      },
    };
  } finally {
    await rm(original, { force: true });
  }
}

/** Reads an uploaded replacement back: size and SHA-256 of the stored bytes, DuckDB's row count. */
export async function verifyUploaded(ctx: EraseContext, entry: ManifestFile): Promise<void> {
  const info = await ctx.storage.head(entry.key);
  if (!info || info.size !== entry.bytes) {
    throw new ExportVerificationError(
      `${entry.key} as stored (${info?.size ?? 'missing'}) differs from what was written (${entry.bytes} bytes)`,
    );
  }
  // The whole key in the name, for the reason `rewriteFile` gives.
  const local = join(ctx.workDir, 'erase', '.verify', `${flatKey(entry.key)}-${process.pid}`);
  try {
    await fetchVerified(ctx, entry, local);
    const [rows = 0n] = await count(
      ctx,
      `SELECT count(*) FROM read_parquet(${quoteLiteral(local)})`,
    );
    if (Number(rows) !== entry.rows) {
      throw new ExportVerificationError(`${entry.key} holds ${rows} rows, expected ${entry.rows}`);
    }
  } finally {
    await rm(local, { force: true });
  }
}
