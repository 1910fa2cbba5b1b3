// The dashboard's part of `npm run bench:rollup`: fills every day of the bench's range that
// was not rolled up with a copy of the last day's rollup (its `usage_daily` rows and its
// `cost_daily` row), so `usage_daily` holds DAYS × USERS, then starts the board and times
// `/dashboard` as an operator's browser asks for it. Also times the per-day totals computed
// from `usage_daily` itself, what the page would cost without `cost_daily.usage`, and renders
// that each follow a rollup of the last day (its top 20 summed again).

import { sql } from 'kysely';
import { jobs } from '../jobs/index.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import type { Db } from '../shared/db/create-db.ts';
import { utcDay } from '../shared/db/partitions.ts';
import { createLogger } from '../shared/log/logger.ts';
import { startBoard } from '../workers/board.ts';
import { percentile, REDIS_URL, round } from './support.ts';

const RENDERS = Number(process.env.BENCH_RENDERS ?? 50);
const WARMUP = 5;
const RESTAMPED = 20;

/** Copies `from`'s rollup to every day of `[first, last]` that has no `cost_daily` row. */
async function fillDays(db: Db, from: string, first: string, last: string): Promise<number> {
  let filled = 0;
  for (let d = first; d <= last; d = utcDay(new Date(`${d}T00:00:00Z`), 1)) {
    const has = await db
      .selectFrom('cost_daily')
      .select('day')
      .where('day', '=', d)
      .executeTakeFirst();
    if (has) continue;
    await sql`INSERT INTO usage_daily
      SELECT ${d}::date, user_id, api_calls, generations, tokens_in, tokens_out, cost_usd, cache_hits,
        local_calls, frontier_calls, telemetry_pings, db_writes, updated_at, api_key_id,
        api_calls_by_route, generations_by_layer, tokens_by_model, rows_written, webhook_deliveries
      FROM usage_daily WHERE day = ${from}`.execute(db);
    await sql`INSERT INTO cost_daily
      SELECT ${d}::date, active_users, token_usd, fleet_usd, database_usd, model_usd, storage_usd,
        requests_usd, total_usd, cpau_usd, model_boxes, local_output_tokens, storage_bytes,
        storage_writes, costs, updated_at, usage
      FROM cost_daily WHERE day = ${from}`.execute(db);
    filled++;
  }
  await sql`ANALYZE usage_daily`.execute(db);
  return filled;
}

/** Fills the range, then renders `/dashboard` WARMUP + RENDERS times, one after the other. */
export async function measureDashboard(options: {
  db: Db;
  databaseUrl: string;
  prefix: string;
  first: string;
  last: string;
}): Promise<{
  rows: number;
  filledDays: number;
  firstMs: number;
  p50Ms: number;
  p95Ms: number;
  renders: number;
  usageGroupByMs: number;
  restampedP95Ms: number;
  restampedRenders: number;
}> {
  const { db } = options;
  const filledDays = await fillDays(db, options.last, options.first, options.last);
  const count = await db
    .selectFrom('usage_daily')
    .select(db.fn.countAll().as('n'))
    .executeTakeFirst();
  const started = performance.now();
  await sql`SELECT day, sum(api_calls), sum(tokens_in + tokens_out), sum(db_writes), sum(generations)
    FROM usage_daily WHERE day >= ${options.first} GROUP BY day`.execute(db);
  const usageGroupByMs = performance.now() - started;

  const config = loadConfig({
    DATABASE_URL: options.databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: options.prefix,
    LOG_LEVEL: 'warn',
    BOARD_PASSWORD: 'bench-password',
  });
  const board = await startBoard({
    config,
    catalog: jobs,
    log: createLogger({ level: 'warn' }),
    port: 0,
  });
  const authorization = `Basic ${Buffer.from('admin:bench-password').toString('base64')}`;
  const render = async () => {
    const at = performance.now();
    const response = await fetch(`http://127.0.0.1:${board.port}/dashboard`, {
      headers: { authorization },
    });
    const body = await response.text();
    if (response.status !== 200 || !body.includes('chart-cpau')) {
      throw new Error(`/dashboard answered ${response.status}: ${body.slice(0, 200)}`);
    }
    return performance.now() - at;
  };
  try {
    const firstMs = await render();
    for (let i = 1; i < WARMUP; i++) await render();
    const times: number[] = [];
    for (let i = 0; i < RENDERS; i++) times.push(await render());
    times.sort((a, b) => a - b);
    // Renders right after the rollup restamped the last day (as every hourly run does to the
    // day it rebuilds): each sums the day's top 20 again.
    const restamped: number[] = [];
    for (let i = 0; i < RESTAMPED; i++) {
      await sql`UPDATE cost_daily SET updated_at = now() WHERE day = ${options.last}`.execute(db);
      restamped.push(await render());
    }
    restamped.sort((a, b) => a - b);
    return {
      restampedP95Ms: round(percentile(restamped, 95), 1),
      restampedRenders: RESTAMPED,
      rows: Number(count?.n ?? 0),
      filledDays,
      firstMs: round(firstMs, 1),
      p50Ms: round(percentile(times, 50), 1),
      p95Ms: round(percentile(times, 95), 1),
      renders: RENDERS,
      usageGroupByMs: round(usageGroupByMs, 1),
    };
  } finally {
    await board.stop();
  }
}
