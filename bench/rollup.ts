// npm run bench:rollup — the usage rollup over BENCH_DAYS days × BENCH_USERS users of seeded
// usage (BENCH_GENERATIONS generations and 2 telemetry pings per user and day, API counts in
// Redis for the last day): every day but the last two exported to cold Parquet, as the nightly
// export leaves them. Measures what the hourly run does (rebuild the hot day in progress), one
// cold day's rebuild (`lowburn usage rollup`), and in the same run the reference: the same
// per-user figures by one GROUP BY over the hot day's raw `generations` rows in Postgres. Then
// the dashboard (`bench/dashboard-render.ts`): every day rolled up, `/dashboard` rendered
// BENCH_RENDERS (50) times after a warm-up, its p95. The days end yesterday, so the dashboard
// (which shows the 30 days before today) shows all of them.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { exportCold } from '../jobs/export-cold/export-cold.ts';
import { rollupDay } from '../jobs/rollup-usage/rollup-day.ts';
import { costsSchema } from '../shared/config/costs-config.ts';
import { createDb } from '../shared/db/create-db.ts';
import { ensurePartitions, utcDay } from '../shared/db/partitions.ts';
import { createLogger } from '../shared/log/logger.ts';
import { FileStorage } from '../shared/storage/file-storage.ts';
import { apiUsageKeys } from '../shared/usage/api-usage.ts';
import { measureDashboard } from './dashboard-render.ts';
import { benchDatabase, deletePrefix, REDIS_URL, round } from './support.ts';

const DAYS = Number(process.env.BENCH_DAYS ?? 30);
const USERS = Number(process.env.BENCH_USERS ?? 10_000);
const PER_USER = Number(process.env.BENCH_GENERATIONS ?? 5);
const FIRST = utcDay(new Date(), -DAYS);
const day = (i: number) => utcDay(new Date(`${FIRST}T00:00:00Z`), i);
const LAST = day(DAYS - 1);
const seconds = async (run: () => Promise<unknown>) => {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
};

const hash = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 8);
const url = await benchDatabase(`lowburn_bench_rollup_${hash}`);
const log = createLogger({ level: 'silent' });
const { db } = createDb({ url, log });
const redis = new Redis(REDIS_URL);
const prefix = `lbbench-rollup-${hash}`;
const root = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-rollup-objects-'));
const cacheDir = await mkdtemp(path.join(tmpdir(), 'lowburn-bench-rollup-cache-'));
const storage = new FileStorage({ root });
const duckdb = { memoryLimit: '512MB', threads: 2 };

try {
  await sql`TRUNCATE generations, telemetry, generations_late, telemetry_late, export_runs, usage_daily, cost_daily`.execute(
    db,
  );
  await ensurePartitions(db, { from: new Date(`${FIRST}T00:00:00Z`), days: DAYS });
  const seedStarted = performance.now();
  for (let i = 0; i < DAYS; i++) {
    // Layers as a cached fleet sees them: most answers from a cache or the local model.
    await sql`
      INSERT INTO generations (id, created_at, api_key_id, user_id, task_type, prompt, prompt_hash,
        request, response, status, cache_layer, route, model, tokens_in, tokens_out, cost_usd,
        latency_ms, fallback_reason)
      SELECT md5(${day(i)} || ':' || g)::uuid::text,
        ${day(i)}::date + (g % 86400) * interval '1 second',
        ('00000000-0000-4000-8000-00000000000' || (g % 3))::uuid, 'user-' || (g % ${USERS}), 'summary',
        'user: hi', 'h', '{}', 'answer', 'completed',
        (ARRAY['exact','semantic','precomputed',NULL,NULL,NULL])[1 + g % 6]::text,
        CASE WHEN g % 6 < 3 THEN NULL WHEN g % 6 = 5 THEN 'frontier' ELSE 'local' END,
        CASE WHEN g % 6 < 3 THEN NULL WHEN g % 6 = 5 THEN 'gpt-4o-mini' ELSE 'llama3.2:3b' END,
        50, 120, CASE WHEN g % 6 = 5 THEN 0.0000795 ELSE 0 END, 40,
        CASE WHEN g % 12 = 5 THEN 'timeout' END::text
      FROM generate_series(1, ${USERS * PER_USER}) g`.execute(db);
    await sql`
      INSERT INTO telemetry (ping_id, device_id, user_id, ts, metric, value)
      SELECT md5('t' || ${day(i)} || ':' || g)::uuid, 'd', 'user-' || (g % ${USERS}),
        ${day(i)}::date + (g % 86400) * interval '1 second', 'm', 1
      FROM generate_series(1, ${USERS * 2}) g`.execute(db);
  }
  const counts = redis.pipeline();
  for (let h = 0; h < 24; h++) {
    const key = apiUsageKeys.hour(prefix, new Date(Date.parse(`${LAST}T00:00:00Z`) + h * 3.6e6));
    for (let u = 0; u < USERS; u++) {
      counts.hset(
        key,
        apiUsageKeys.field(
          '00000000-0000-4000-8000-000000000001',
          `user-${u}`,
          'POST /v1/generations',
        ),
        1,
      );
    }
  }
  await counts.exec();
  // Every day but the last two goes cold, as the nightly export leaves a fleet.
  await exportCold({
    db,
    databaseUrl: url,
    storage,
    log,
    duckdb,
    workDir: path.join(cacheDir, 'work'),
    rowsPerFile: 1_000_000,
    hotRetentionMs: 24 * 3600_000,
    dropGraceMs: 0,
    partitionDaysAhead: 1,
    now: () => new Date(`${LAST}T00:30:00Z`),
  });
  const seedS = (performance.now() - seedStarted) / 1000;

  const deps = {
    db,
    redis,
    prefix,
    costs: costsSchema.parse({}),
    databaseUrl: url,
    storage,
    cacheDir,
    duckdb,
  };
  const coldDay = day(Math.max(0, DAYS - 3));
  // A first cold rebuild fetches the day's files into the cache, as the first run of a day does.
  const dayS = await seconds(() => rollupDay(deps, coldDay));
  const hourS = await seconds(() => rollupDay(deps, LAST));
  const rawS = await seconds(() =>
    sql`
      SELECT api_key_id, user_id, cache_layer, route, fallback_reason, model, count(*),
        sum(tokens_in), sum(tokens_out), sum(cost_usd)
      FROM generations
      WHERE created_at >= ${`${LAST} 00:00:00+00`}::timestamptz
        AND created_at < ${`${utcDay(new Date(`${LAST}T00:00:00Z`), 1)} 00:00:00+00`}::timestamptz
      GROUP BY 1, 2, 3, 4, 5, 6`.execute(db),
  );
  const rows = await db
    .selectFrom('usage_daily')
    .select(db.fn.countAll().as('n'))
    .executeTakeFirst();
  const dashboard = await measureDashboard({
    db,
    databaseUrl: url,
    prefix,
    first: FIRST,
    last: LAST,
  });
  console.error(
    `dashboard: usage_daily ${dashboard.rows} rows (${dashboard.filledDays} days copied from ${LAST}'s rollup); first render ${dashboard.firstMs} ms, then ${dashboard.renders} renders p50 ${dashboard.p50Ms} ms p95 ${dashboard.p95Ms} ms; per-day totals summed from usage_daily instead: ${dashboard.usageGroupByMs} ms; ${dashboard.restampedRenders} renders each after the last day was restamped: p95 ${dashboard.restampedP95Ms} ms`,
  );
  console.error(
    `seeded and exported ${DAYS} days × ${USERS} users (${USERS * PER_USER} generations a day) in ${round(seedS, 1)} s; usage_daily rows: ${rows?.n}`,
  );
  console.log(
    JSON.stringify({
      bench: 'rollup',
      days: DAYS,
      users: USERS,
      generations_per_day: USERS * PER_USER,
      hour_s: round(hourS, 2),
      day_s: round(dayS, 2),
      raw_groupby_s: round(rawS, 2),
      dashboard_p95_ms: dashboard.p95Ms,
      dashboard_p50_ms: dashboard.p50Ms,
      dashboard_first_ms: dashboard.firstMs,
      dashboard_restamped_p95_ms: dashboard.restampedP95Ms,
      dashboard_renders: dashboard.renders,
      usage_daily_rows: dashboard.rows,
    }),
  );
} finally {
  await deletePrefix(redis, prefix);
  redis.disconnect();
  await db.destroy();
  await storage.close();
  await rm(root, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
}
