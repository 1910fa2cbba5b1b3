import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import type pg from 'pg';
import {
  coldLayout,
  type Manifest,
  type ManifestErasure,
  type ManifestFile,
} from '../../shared/cold/layout.ts';
import { writeManifest } from '../../shared/cold/manifest-write.ts';
import { userIndexOfFile } from '../../shared/cold/user-index.ts';
import type { Db } from '../../shared/db/create-db.ts';
import type { ExportState } from '../../shared/db/database.ts';
import type { PartitionedTable } from '../../shared/db/partitions.ts';
import type { ColumnPlan } from '../../shared/duckdb/columns.ts';
import { quoteLiteral } from '../../shared/duckdb/duckdb.ts';
import type { ParquetPart } from '../../shared/duckdb/pg-to-parquet.ts';
import { ExportVerificationError } from '../../shared/errors/export-verification-error.ts';
import type { Logger } from '../../shared/log/logger.ts';
import { Sha256Transform } from '../../shared/storage/sha256.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

// What the export's steps share: its context, a day's `export_runs` row, and the files of a day
// as they are recorded, read back and listed in its manifest.

/** Points where an export commits progress; tests inject a crash after each. */
export type ExportStep =
  | 'claimed'
  | 'written'
  | 'uploaded'
  | 'verified'
  | 'dropping'
  | 'dropped'
  | 'late-uploaded'
  | 'late-committed';

export interface ExportContext {
  db: Db;
  /** A client of the export's own, with `TimeZone = UTC`: COPY streams and the late pass run on it. */
  client: pg.Client;
  duck: DuckDBConnection;
  storage: ObjectStorage;
  log: Logger;
  /** Local folder for files on their way to object storage. */
  workDir: string;
  rowsPerFile: number;
  /** A verified partition is dropped only this long after verification. */
  dropGraceMs: number;
  now: () => Date;
  signal?: AbortSignal;
  /** Called after each step; a throw here is a crash at that point. */
  afterStep?: (step: ExportStep, day: { table: PartitionedTable; day: string }) => unknown;
}

export interface Run {
  table: PartitionedTable;
  day: string;
  state: ExportState;
  files: ManifestFile[];
  columns: Manifest['columns'];
  rows: number;
  verifiedAt: Date | null;
  startedAt: Date;
  /** Erasures applied to the day (`apply-erasures`), repeated in every manifest. */
  erasures: ManifestErasure[];
}

export const PARQUET = 'application/vnd.apache.parquet';

export const localDir = (ctx: ExportContext, run: Run) => join(ctx.workDir, run.table, run.day);

export const manifestColumns = (columns: ColumnPlan[]): Manifest['columns'] =>
  columns.map((c) => ({ name: c.name, type: c.type, postgresType: c.postgresType }));

/** A written part as its manifest lists it, with the users and devices it holds (one scan). */
export const fileEntry = async (
  ctx: ExportContext,
  run: Run,
  part: ParquetPart,
  source: ManifestFile['source'],
): Promise<ManifestFile> => {
  const users = await userIndexOfFile(ctx.duck, run.table, part.file);
  return {
    key: coldLayout.partKey(run.table, run.day, part.index),
    rows: part.rows,
    bytes: part.bytes,
    sha256: part.sha256,
    source,
    ...(users && { users }),
  };
};

export const sum = (files: ManifestFile[]) => files.reduce((n, f) => n + f.rows, 0);

/** Reads an object back: size and SHA-256 of the stored bytes, and DuckDB's row count. */
export async function verifyObject(ctx: ExportContext, file: ManifestFile): Promise<void> {
  const info = await ctx.storage.head(file.key);
  if (!info) throw new ExportVerificationError(`${file.key} is missing from object storage`);
  if (info.size !== file.bytes || (info.sha256 !== undefined && info.sha256 !== file.sha256)) {
    throw new ExportVerificationError(
      `${file.key} as stored (${info.size} bytes, sha256 ${info.sha256}) differs from what was written (${file.bytes} bytes, sha256 ${file.sha256})`,
    );
  }
  const tmp = join(ctx.workDir, '.verify', `${basename(file.key)}-${process.pid}-${Date.now()}`);
  await mkdir(join(ctx.workDir, '.verify'), { recursive: true });
  try {
    const hasher = new Sha256Transform();
    await pipeline(await ctx.storage.get(file.key), hasher, createWriteStream(tmp));
    if (hasher.sha256 !== file.sha256) {
      throw new ExportVerificationError(
        `${file.key} read back with sha256 ${hasher.sha256}, expected ${file.sha256}`,
      );
    }
    const reader = await ctx.duck.runAndReadAll(
      `SELECT count(*)::BIGINT AS n FROM read_parquet(${quoteLiteral(tmp)})`,
    );
    const rows = Number(reader.getRows()[0]?.[0]);
    if (rows !== file.rows) {
      throw new ExportVerificationError(`${file.key} holds ${rows} rows, expected ${file.rows}`);
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Publishes the day's manifest from its `export_runs` row (erasures recorded there included). */
export async function putManifest(
  ctx: ExportContext,
  run: Run,
  files: ManifestFile[],
): Promise<void> {
  await writeManifest(
    ctx.storage,
    {
      table: run.table,
      day: run.day,
      files,
      columns: run.columns,
      exportedAt: run.startedAt,
      erasures: run.erasures,
    },
    ctx.now(),
  );
}
