// npm run bench:precompute-rank — the 03:00 precompute's ranking at scale: a week of generations
// at RANK_USERS users (30 asks a user a day, the simulated day's seeded workload), ranked by
// `rankCandidates` under DuckDB's default 64 MB `DUCKDB_MEMORY_LIMIT` — the step that ran out of
// memory at 10,000 users in the first simulated day (#14). The reference, in the same run: the
// same ranking (asks per prompt, at least PRECOMPUTE_MIN_USERS distinct users, top N) computed
// by Postgres alone over the same rows, for its time and to check both pick the same keys.
//
// Day 1 is the workload's day as the generate job records it; days 2..RANK_DAYS are copies of it
// with every user shifted to another id and RANK_NEW_SHARE of the prompts made new that day, so
// the week holds more (key, user) pairs than one day repeated would.

import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { rankCandidates } from '../jobs/precompute-cache/candidates.ts';
import { loadConfig } from '../shared/config/load-config.ts';
import { createDb } from '../shared/db/create-db.ts';
import { ensurePartitions } from '../shared/db/partitions.ts';
import { templates } from '../shared/generation/templates.ts';
import { createGenerationPipeline } from '../shared/inference/pipeline.ts';
import { renderTemplate } from '../shared/inference/templates.ts';
import { createLogger } from '../shared/log/logger.ts';
import { createStorage } from '../shared/storage/create-storage.ts';
import { dayWorkload } from './day/workload.ts';
import { recordDay } from './recorded-day.ts';
import { benchDatabase, REDIS_URL, round } from './support.ts';

const USERS = Number(process.env.RANK_USERS ?? 10_000);
const DAYS = Number(process.env.RANK_DAYS ?? 7);
const NEW_SHARE = Number(process.env.RANK_NEW_SHARE ?? 0.4);
const MEMORY = process.env.DUCKDB_MEMORY_LIMIT ?? '64MB';
const DAY = 86_400_000;
const log = createLogger({ level: 'silent' });
const say = (line: string) => process.stderr.write(`${line}\n`);

const databaseUrl = await benchDatabase('lowburn_bench_rank');
const { db } = createDb({ url: databaseUrl, log });
const dayStart = Math.floor(Date.now() / DAY) * DAY;
const apiKeyId = '00000000-0000-4000-8000-00000000a11d';

// The week, before the run: day 1 through the recorder, the other days copied by Postgres.
const t0 = performance.now();
await db.deleteFrom('generations').execute();
await ensurePartitions(db, { from: new Date(dayStart - DAYS * DAY), days: DAYS + 2 });
const previous = dayWorkload({ users: USERS, seed: 1 }).filter((r) => r.at < 0);
await recordDay(
  db,
  previous.map((r) => {
    const { body } = r;
    const template = templates.get(body.template ?? '');
    const text =
      body.prompt ??
      body.messages?.[0]?.content ??
      (template ? renderTemplate(template, body.params ?? {}) : '');
    return {
      request: { taskType: body.taskType, messages: [{ role: 'user' as const, content: text }] },
      rank: 0,
      userId: r.userId,
    };
  }),
  apiKeyId,
  (i) => new Date(dayStart + (previous[i]?.at ?? 0)),
);
for (let d = 1; d < DAYS; d++) {
  // A new prompt is the old one with the day appended; its hash is derived from the old hash, so
  // prompts that normalise alike stay one key on the new day too.
  await sql`
    INSERT INTO generations (id, created_at, api_key_id, user_id, task_type, prompt, prompt_hash,
      request, response, status, route, model, tokens_in, tokens_out, cost_usd, latency_ms)
    SELECT gen_random_uuid(), created_at - ${`${d} days`}::interval, api_key_id,
      'user-' || ((substr(user_id, 6)::int + ${d * 7919}) % ${USERS}), task_type, p.prompt,
      CASE WHEN p.renamed THEN encode(sha256(convert_to(prompt_hash || ${d}, 'UTF8')), 'hex')
        ELSE prompt_hash END,
      CASE WHEN p.renamed
        THEN jsonb_set(request, '{prompt}', to_jsonb(substr(p.prompt, 7)))
        ELSE request END,
      response, status, route, model, tokens_in, tokens_out, cost_usd, latency_ms
    FROM generations g,
      LATERAL (SELECT random() < ${NEW_SHARE} AS renamed) r,
      LATERAL (SELECT CASE WHEN r.renamed THEN g.prompt || ' (day ' || ${d} || ')' ELSE g.prompt END
        AS prompt, r.renamed) p
    WHERE created_at >= ${new Date(dayStart - DAY).toISOString()}::timestamptz`.execute(db);
}
const counted = await sql<{ rows: string; pairs: string; prompts: string }>`
  SELECT count(*) AS rows, count(DISTINCT (prompt_hash, user_id)) AS pairs,
    count(DISTINCT prompt_hash) AS prompts FROM generations`.execute(db);
const week = counted.rows[0] ?? { rows: '0', pairs: '0', prompts: '0' };
say(
  `seeded ${DAYS} days at ${USERS} users in ${round((performance.now() - t0) / 1000, 1)} s: ${week.rows} generations, ${week.prompts} prompts, ${week.pairs} (prompt, user) pairs`,
);

const config = loadConfig({
  NODE_ENV: 'development',
  LOG_LEVEL: 'silent',
  DATABASE_URL: databaseUrl,
  REDIS_URL,
  STORAGE_URL: 'file:/tmp/lowburn-bench-rank-objects',
  COLD_CACHE_DIR: '/tmp/lowburn-bench-rank-cache',
  DUCKDB_MEMORY_LIMIT: MEMORY,
});
const storage = await createStorage(config.storage);
const redis = new Redis(REDIS_URL);
const generation = createGenerationPipeline({
  config: config.inference,
  redis,
  prefix: '{lowburn-bench-rank}',
  log,
  semanticIndex: () => Promise.reject(new Error('not used')),
});
const now = new Date(dayStart + 60_000);

// lowburn: hot rows copied out of Postgres and ranked by DuckDB.
const cpu0 = process.cpuUsage();
const t1 = performance.now();
const ranking = await rankCandidates({ config, storage, generation, now });
const wall = (performance.now() - t1) / 1000;
const cpu = process.cpuUsage(cpu0);
// The process's peak: seeding the week in this same process (the workload in JS) counts in it.
const peakRss = process.resourceUsage().maxRSS / 1024;

// Reference: Postgres alone over the same window.
const t2 = performance.now();
const reference = await sql<{ prompt_hash: string; asks: string }>`
  SELECT prompt_hash, count(*) AS asks FROM generations
  WHERE created_at >= ${ranking.from.toISOString()}::timestamptz
    AND created_at < ${ranking.to.toISOString()}::timestamptz
  GROUP BY task_type, api_key_id, prompt_hash
  HAVING count(DISTINCT user_id) >= ${config.precompute.minUsers}
  ORDER BY count(*) DESC LIMIT ${config.precompute.topN}`.execute(db);
const referenceWall = (performance.now() - t2) / 1000;

// Agreement on the asks of the N-th key (ties at the cut may pick other keys of equal asks).
const ours = ranking.candidates.map((c) => c.asks).sort((a, b) => b - a);
const theirs = reference.rows.map((r) => Number(r.asks));
const sameAsks = ours.length === theirs.length && ours.every((a, i) => a === theirs[i]);

say(
  `lowburn: ${ranking.rows.toLocaleString('en')} rows ranked in ${round(wall, 1)} s (${round((cpu.user + cpu.system) / 1e6, 1)} CPU-s; the process's peak RSS, seeding included, ${round(peakRss)} MB) under ${MEMORY}; Postgres alone: ${round(referenceWall, 1)} s; same asks at every rank: ${sameAsks}`,
);
await storage.close();
redis.disconnect();
await db.destroy();
console.log(
  JSON.stringify({
    bench: 'precompute-rank',
    users: USERS,
    days: DAYS,
    rows: ranking.rows,
    pairs: Number(week.pairs),
    memory_limit: MEMORY,
    candidates: ranking.candidates.length,
    wall_s: round(wall, 1),
    cpu_s: round((cpu.user + cpu.system) / 1e6, 1),
    process_peak_rss_mb: round(peakRss),
    reference_wall_s: round(referenceWall, 1),
    ratio: round(wall / referenceWall),
    same_asks: sameAsks,
  }),
);
