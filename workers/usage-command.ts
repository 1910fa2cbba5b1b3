import { type Command, InvalidArgumentError } from 'commander';
import { withDb, withRedis } from './cli-clients.ts';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

const day = (name: string) => (value: string) => {
  if (!DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new InvalidArgumentError(`${name} must be a day like 2026-11-20 (got "${value}")`);
  }
  return value;
};

/**
 * Adds `lowburn usage rollup --from --to`: rebuilds `usage_daily` and `cost_daily` for every
 * UTC day of the range, here and now (what the hourly `rollup-usage` job does for one day),
 * hot and cold days alike; prints a line per day.
 */
export function registerUsageCommand(program: Command): void {
  const usage = program.command('usage').description('usage and cost per active user');
  usage
    .command('rollup')
    .description('rebuild usage_daily and cost_daily for a range of days (hot and cold)')
    .requiredOption('--from <day>', 'first UTC day, YYYY-MM-DD', day('--from'))
    .option('--to <day>', 'last UTC day, inclusive (default: --from)', day('--to'))
    .action(async (opts: { from: string; to?: string }) => {
      const to = opts.to ?? opts.from;
      if (opts.from > to) throw new InvalidArgumentError(`--from ${opts.from} is after --to ${to}`);
      const [{ rollupDay }, { createStorage }, { utcDay }] = await Promise.all([
        import('../jobs/rollup-usage/rollup-day.ts'),
        import('../shared/storage/create-storage.ts'),
        import('../shared/db/partitions.ts'),
      ]);
      await withRedis((redis) =>
        withDb('usage', async (db, { config }) => {
          const storage = await createStorage(config.storage);
          try {
            for (let d = opts.from; d <= to; d = utcDay(new Date(`${d}T00:00:00Z`), 1)) {
              const r = await rollupDay(
                {
                  db,
                  redis,
                  prefix: config.queuePrefix,
                  costs: config.costs,
                  databaseUrl: config.database.url,
                  storage,
                  cacheDir: config.cold.cacheDir,
                  duckdb: config.cold.duckdb,
                },
                d,
              );
              const cpau = r.cost.cpau === null ? '-' : `$${r.cost.cpau.toFixed(4)}`;
              console.log(
                `${d}  ${r.rows} rows  ${r.activeUsers} active users  total $${r.cost.total.toFixed(4)}  CPAU ${cpau}`,
              );
            }
          } finally {
            await storage.close();
          }
        }),
      );
    });
  usage
    .command('export')
    .description('write usage_daily (a range of days, or all) to a zstd Parquet file')
    .option('--from <day>', 'first UTC day, YYYY-MM-DD (default: the first kept)', day('--from'))
    .option('--to <day>', 'last UTC day, inclusive (default: the last kept)', day('--to'))
    .option('--out <file>', 'the Parquet file to write', 'usage_daily.parquet')
    .action(async (opts: { from?: string; to?: string; out: string }) => {
      if (opts.from && opts.to && opts.from > opts.to) {
        throw new InvalidArgumentError(`--from ${opts.from} is after --to ${opts.to}`);
      }
      if (!opts.out.endsWith('.parquet')) {
        throw new InvalidArgumentError(`--out must name a .parquet file (got "${opts.out}")`);
      }
      const [{ exportUsageParquet }, { bootConfig }] = await Promise.all([
        import('./usage-export.ts'),
        import('./process.ts'),
      ]);
      const config = bootConfig('cli');
      const result = await exportUsageParquet({
        databaseUrl: config.database.url,
        from: opts.from,
        to: opts.to,
        out: opts.out,
        duckdb: config.cold.duckdb,
      });
      const range = `${opts.from ?? 'the first day'} to ${opts.to ?? 'the last day'}`;
      console.log(
        result.file
          ? `${result.file}  ${result.rows} rows  ${result.bytes} bytes (usage_daily, ${range})`
          : `no usage_daily rows from ${range}: nothing written`,
      );
    });
}
