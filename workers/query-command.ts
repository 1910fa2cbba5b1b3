import { type Command, InvalidArgumentError, Option } from 'commander';
import type { QueryResult } from '../shared/duckdb/cold-query.ts';
import { bootConfig } from './process.ts';
import { renderTable } from './text-table.ts';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function parseDay(value: string): string {
  if (!DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new InvalidArgumentError('expected a UTC day like 2026-11-20');
  }
  return value;
}

/**
 * Adds `lowburn query "<SQL>"`: DuckDB over cold Parquet and hot Postgres rows of a day range,
 * as `cold.<table>`, `hot.<table>` and `<table>` (both).
 */
export function registerQueryCommand(program: Command): void {
  program
    .command('query')
    .description(
      'answer SQL over cold (Parquet in object storage) and hot (Postgres) data with DuckDB',
    )
    .argument('<sql>', 'DuckDB SQL over telemetry, generations, cold.<table>, hot.<table>')
    .option('--from <day>', 'first UTC day (default: 6 days before --to)', parseDay)
    .option('--to <day>', 'last UTC day, inclusive (default: today)', parseDay)
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['table', 'csv', 'json'])
        .default('table'),
    )
    .addHelpText(
      'after',
      `
Examples:
  lowburn query "SELECT metric, count(*), avg(value) FROM telemetry GROUP BY ALL" --from 2026-11-01
  lowburn query "SELECT route, sum(cost_usd) FROM generations GROUP BY ALL" --format csv
Cold files are cached in COLD_CACHE_DIR and reused.`,
    )
    .action(
      async (
        sql: string,
        opts: { from?: string; to?: string; format: 'table' | 'csv' | 'json' },
      ) => {
        const to = opts.to ?? new Date().toISOString().slice(0, 10);
        const from =
          opts.from ??
          new Date(Date.parse(`${to}T00:00:00Z`) - 6 * 86_400_000).toISOString().slice(0, 10);
        const config = bootConfig();
        const [{ openColdQuery, NoDataError, QuerySqlError }, { createStorage }] =
          await Promise.all([
            import('../shared/duckdb/cold-query.ts'),
            import('../shared/storage/create-storage.ts'),
          ]);
        const storage = await createStorage(config.storage);
        const bar = await progressBar();
        try {
          const session = await openColdQuery({
            databaseUrl: config.database.url,
            storage,
            cacheDir: config.cold.cacheDir,
            duckdb: config.cold.duckdb,
            from,
            to,
            onFetch: bar?.update,
          });
          bar?.stop();
          try {
            const result = await session.query(sql);
            process.stdout.write(`${format(result, opts.format)}\n`);
          } finally {
            await session.close();
          }
        } catch (error) {
          bar?.stop();
          if (
            error instanceof NoDataError ||
            error instanceof QuerySqlError ||
            error instanceof RangeError
          ) {
            process.stderr.write(`lowburn query: ${error.message}\n`);
            process.exitCode = 1;
            return;
          }
          throw error;
        } finally {
          await storage.close();
        }
      },
    );
}

/** A progress bar on stderr while cold files are fetched, when stderr is a terminal. */
async function progressBar() {
  if (!process.stderr.isTTY) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'fetching cold files {bar} {value}/{total} ({mb} MB, {cached} cached)',
      hideCursor: true,
      clearOnComplete: true,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update(p: { done: number; total: number; bytes: number; cached: number }) {
      if (p.total === 0) return;
      const payload = { mb: (p.bytes / 1e6).toFixed(1), cached: p.cached };
      if (!started) {
        bar.start(p.total, p.done, payload);
        started = true;
      } else bar.update(p.done, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

const text = (value: unknown): string =>
  value === null || value === undefined
    ? ''
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value);

/** A query result as an aligned table, CSV (RFC 4180) or a JSON array of row objects. */
export function format(result: QueryResult, as: 'table' | 'csv' | 'json'): string {
  const names = result.columns.map((c) => c.name);
  if (as === 'json') return JSON.stringify(result.rows);
  if (as === 'csv') {
    const cell = (v: unknown) => {
      const s = text(v);
      return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    };
    return [
      names.map(cell).join(','),
      ...result.rows.map((r) => names.map((n) => cell(r[n])).join(',')),
    ].join('\n');
  }
  const rows = result.rows.map((r) => names.map((n) => (r[n] === null ? 'NULL' : text(r[n]))));
  return `${renderTable([names, ...rows])}\n(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`;
}
