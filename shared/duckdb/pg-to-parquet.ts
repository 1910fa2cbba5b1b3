import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { constants, openSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { DuckDBConnection } from '@duckdb/node-api';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { sha256OfFile } from '../storage/sha256.ts';
import type { ColumnPlan } from './columns.ts';
import { CsvRowScanner } from './csv-rows.ts';
import { quoteIdent, quoteLiteral } from './duckdb.ts';

/** One Parquet file written locally. */
export interface ParquetPart {
  /** Absolute path of the file. */
  file: string;
  /** Index in the part sequence (`part-00003` → 3). */
  index: number;
  rows: number;
  bytes: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
}

export interface CopyToParquetOptions {
  /** A client of its own: the COPY occupies it, and after a failure it must be ended. */
  client: pg.ClientBase;
  duck: DuckDBConnection;
  /** A Postgres query selecting `columns[i].select` in order (see `selectList`). */
  query: string;
  columns: ColumnPlan[];
  outDir: string;
  /** File name of part `index`, e.g. `part-00000.parquet`. */
  fileName: (index: number) => string;
  /** Index of the first part written. @defaultValue 0 */
  firstIndex?: number;
  rowsPerFile: number;
  /** Rows per Parquet row group; smaller bounds DuckDB's memory per thread. @defaultValue 32_768 */
  rowGroupSize?: number;
  signal?: AbortSignal;
}

const execFileAsync = promisify(execFile);

/** The `SELECT` list that makes Postgres write `columns` the way `copyToParquet` reads them. */
export const selectList = (columns: ColumnPlan[]) =>
  columns.map((c) => `${c.select} AS ${quoteIdent(c.name)}`).join(', ');

/**
 * Streams a Postgres query into zstd Parquet files of at most `rowsPerFile` rows, through
 * DuckDB, with memory bounded by DuckDB's `memory_limit` whatever the row count.
 *
 * Postgres writes CSV (`COPY … TO STDOUT`, one sequential scan); Node finds the row ends
 * (`CsvRowScanner`) and cuts the stream into one named pipe per file; DuckDB reads each pipe
 * with the exact column types (`read_csv`, no sniffing) and writes the Parquet file. No CSV
 * touches the disk and no row is materialised in JavaScript. An empty result writes no file.
 *
 * Memory: DuckDB's CSV buffer is 4 MiB (its default, 16 × the 2 MiB line limit, cost ~50 MB of
 * peak RSS for no speed) and row groups hold 32,768 rows (65,536 cost ~10 MB more and was no
 * faster; files grow ~3 %). A row longer than 2 MiB of CSV is refused by DuckDB with an error.
 */
export async function copyToParquet(options: CopyToParquetOptions): Promise<ParquetPart[]> {
  const { columns, rowsPerFile } = options;
  await mkdir(options.outDir, { recursive: true });
  const fifo = join(options.outDir, `.copy-${randomBytes(6).toString('hex')}.fifo`);
  await execFileAsync('mkfifo', ['-m', '600', fifo]);
  const readCsv = `read_csv(${quoteLiteral(fifo)}, header = false, auto_detect = false,
    allow_quoted_nulls = false, delim = ',', quote = '"', escape = '"',
    max_line_size = 2097152, buffer_size = 4194304,
    columns = {${columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.csvType)}`).join(', ')}})`;
  const projection = columns.map((c) => `${c.read} AS ${quoteIdent(c.name)}`).join(', ');
  const rowGroupSize = options.rowGroupSize ?? 32_768;

  const parts: ParquetPart[] = [];
  let current: { index: number; rows: number; writer: Socket; duck: Promise<unknown> } | undefined;
  const source = options.client.query(copyTo(`COPY (${options.query}) TO STDOUT (FORMAT csv)`));

  const startPart = async () => {
    const index = (options.firstIndex ?? 0) + parts.length;
    const target = join(options.outDir, options.fileName(index));
    const duck = options.duck.run(
      `COPY (SELECT ${projection} FROM ${readCsv}) TO ${quoteLiteral(`${target}.tmp`)}
       (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${rowGroupSize})`,
    );
    duck.catch(() => {}); // observed in finishPart or on failure
    current = { index, rows: 0, writer: await openPipeWriter(fifo, duck), duck };
  };
  const finishPart = async () => {
    if (!current) return;
    const { index, rows, writer, duck } = current;
    current = undefined;
    writer.end();
    await finished(writer);
    await duck;
    const file = join(options.outDir, options.fileName(index));
    await rename(`${file}.tmp`, file);
    const { size } = await stat(file);
    parts.push({ file, index, rows, bytes: size, sha256: await sha256OfFile(file) });
  };
  const write = async (bytes: Uint8Array) => {
    if (!current || bytes.length === 0) return;
    // A pipe that broke since the last write (DuckDB stopped reading) fails here.
    if (current.writer.errored) throw current.writer.errored;
    // `once` rejects on 'error' and removes both listeners either way; and on the job's abort,
    // so that a DuckDB that stopped reading without closing the pipe (closed under a shutting
    // down worker) cannot hold the COPY's backend in ClientWrite for ever — which also stalls
    // every DROP DATABASE on the server.
    if (!current.writer.write(bytes))
      await once(current.writer, 'drain', { signal: options.signal });
  };

  const scanner = new CsvRowScanner();
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      let at = 0;
      while (at < chunk.length) {
        if (!current) await startPart();
        const open = current as NonNullable<typeof current>;
        const { end, rows } = scanner.scan(chunk, at, rowsPerFile - open.rows);
        open.rows += rows;
        if (end === -1) {
          await write(chunk.subarray(at));
          break;
        }
        await write(chunk.subarray(at, end));
        at = end;
        await finishPart();
      }
    }
    await finishPart();
    return parts;
  } catch (error) {
    source.destroy();
    const open = current;
    current = undefined;
    open?.writer.destroy();
    // DuckDB's own error (a type it could not read, a full disk) says more than a broken pipe.
    const duckError = open
      ? await open.duck.then(
          () => undefined,
          (e: unknown) => e,
        )
      : undefined;
    if (open)
      await rm(join(options.outDir, `${options.fileName(open.index)}.tmp`), { force: true });
    throw duckError ?? error;
  } finally {
    await rm(fifo, { force: true });
  }
}

/**
 * Opens the write end of a named pipe without blocking the event loop: a non-blocking open
 * fails with ENXIO until DuckDB opens the read end, so poll until it does — or until DuckDB's
 * statement settles first (it failed before reading), which would otherwise leave us waiting
 * forever. The fd becomes a libuv pipe stream: writes never block a thread-pool thread.
 *
 * The stream keeps an 'error' listener for its whole life: a write can return `true` with bytes
 * still queued in libuv, and if DuckDB then stops reading (its COPY failed: a full disk) the
 * EPIPE comes while nobody awaits the stream — unheard, it would crash the process. The error
 * stays in `errored` for the next write, and DuckDB's own error is what the caller reports.
 * @internal exported for its test
 */
export async function openPipeWriter(fifo: string, reader: Promise<unknown>): Promise<Socket> {
  let settled = false;
  reader.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      const writer = new Socket({ fd, readable: false, writable: true });
      writer.on('error', () => {});
      return writer;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
    }
    if (settled) {
      await reader;
      throw new Error('DuckDB finished its COPY before opening the input pipe');
    }
    await sleep(wait);
  }
}
