import { mkdir } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';

export interface DuckDbSettings {
  /** DuckDB `memory_limit`, e.g. `128MB`; past it DuckDB spills to `tempDirectory`. */
  memoryLimit: string;
  threads: number;
  /** Where DuckDB may spill; created when missing. */
  tempDirectory: string;
}

/** An in-memory DuckDB with one connection, closed together. */
export interface DuckDb {
  connection: DuckDBConnection;
  close(): void;
}

/**
 * Opens an in-memory DuckDB bounded by `settings`. Extensions are never downloaded (the fleet
 * runs offline): only the built-in ones (parquet, json, icu) are used.
 */
export async function openDuckDb(settings: DuckDbSettings): Promise<DuckDb> {
  await mkdir(settings.tempDirectory, { recursive: true });
  // Loaded on first use: a worker that never exports does not pay for the native module.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: settings.memoryLimit,
    threads: String(settings.threads),
    temp_directory: settings.tempDirectory,
    // Exports do not need rows in input order, and keeping it costs memory per thread.
    preserve_insertion_order: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'true',
  });
  const connection = await instance.connect();
  // Timestamps with time zone print in UTC whatever the host's zone.
  await connection.run("SET TimeZone = 'UTC'");
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** `"name"` with inner quotes doubled: a safe identifier in both DuckDB and Postgres. */
export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** `'text'` with inner quotes doubled: a safe string literal in DuckDB. */
export const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;
