import type { DuckDBConnection } from '@duckdb/node-api';
import type { Db } from '../../shared/db/create-db.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { ObjectStorage } from '../../shared/storage/storage.ts';

/** Points where `apply-erasures` commits progress; tests inject a crash after each. */
export type EraseStep =
  | 'written'
  | 'uploaded'
  | 'verified'
  | 'committed'
  | 'published'
  | 'deleted'
  | 'finished';

export interface EraseContext {
  db: Db;
  duck: DuckDBConnection;
  storage: ObjectStorage;
  log: Logger;
  /** Local folder for files fetched and rewritten. */
  workDir: string;
  now: () => Date;
  signal?: AbortSignal;
  /** Called after each step; a throw here is a crash at that point. */
  afterStep?: (step: EraseStep, at: { table: string; day: string; key?: string }) => unknown;
}

export const PARQUET = 'application/vnd.apache.parquet';
