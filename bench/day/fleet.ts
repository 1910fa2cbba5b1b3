// The fleet of the day, as deployed: `lowburn api` and two `lowburn worker`s as processes (started
// by `startProcesses` once the day's clock is known), a private redis-server (so its memory and
// CPU are the day's alone), the bench's own Postgres database (emptied first), object storage on
// disk, the model servers and a receiver that verifies every webhook's signature.

import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createApiKey } from '../../shared/api-keys/api-keys.ts';
import { createDb, type Db } from '../../shared/db/create-db.ts';
import { createLogger } from '../../shared/log/logger.ts';
import { freePort } from '../../test/fixtures/free-port.ts';
import { type RedisTestServer, startRedisServer } from '../../test/fixtures/redis-server.ts';
import { devKeyring } from '../../test/fixtures/secrets.ts';
import { benchDatabase } from '../support.ts';
import { startReceiverProcess, startWorkerProcess } from '../webhook-processes.ts';
import { type DayModels, startDayModels } from './model-servers.ts';
import { clockEnv, type DayClock } from './scheduled.ts';
import type { DaySettings } from './settings.ts';

export const DAY_PREFIX = 'lbday';

export interface DayFleet {
  env: Record<string, string>;
  databaseUrl: string;
  db: Db;
  redis: RedisTestServer;
  models: DayModels;
  apiUrl: string;
  apiKey: { id: string; key: string };
  receiver: Awaited<ReturnType<typeof startReceiverProcess>>;
  webhookUrl: string;
  pids: Record<string, number | undefined>;
  /** Starts `lowburn api` and the two workers on the day's compressed clock. */
  startProcesses(clock: DayClock): Promise<void>;
  stop(): Promise<void>;
}

/** A duration setting of `ms` real milliseconds. */
const realMs = (ms: number) => `${Math.max(1, Math.round(ms))}ms`;

/**
 * The settings scaled by the compression because they do not run on the clock yet: the cache TTLs (a simulated 24 h and 1 h), the hot
 * retention, and the per-user rate limits (a user's simulated minute is 60 / compression real
 * seconds).
 */
function compressedEnv(s: DaySettings): Record<string, string> {
  const c = s.compression;
  const tiers = '1000:20,5000:5'
    .split(',')
    .map((tier) =>
      tier
        .split(':')
        .map((n) => Math.ceil(Number(n) * c))
        .join(':'),
    )
    .join(',');
  return {
    CACHE_TTL_EXACT: realMs(86_400_000 / c),
    CACHE_TTL_SEMANTIC: realMs(3_600_000 / c),
    CACHE_TTL_PRECOMPUTED: realMs(86_400_000 / c),
    // So the 00:30 export takes yesterday, as it does at 00:30 on the real clock.
    HOT_RETENTION: realMs(86_400_000 / c),
    RATE_LIMIT_PER_USER: String(Math.ceil(60 * c)),
    RATE_LIMIT_USER_TIERS: tiers,
  };
}

export async function startFleet(s: DaySettings): Promise<DayFleet> {
  const hash = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 8);
  const databaseUrl = await benchDatabase(`lowburn_bench_day_${hash}`);
  const { db } = createDb({ url: databaseUrl, log: createLogger({ level: 'silent' }) });
  const tables = await sql<{ tablename: string }>`
    SELECT tablename FROM pg_tables
    WHERE schemaname = 'public' AND tablename NOT LIKE 'lowburn_migration%'
      AND tablename NOT LIKE '%\_p20%'`.execute(db);
  await sql`TRUNCATE ${sql.join(tables.rows.map((t) => sql.id(t.tablename)))} CASCADE`.execute(db);
  const redis = await startRedisServer();
  const objects = await mkdtemp(path.join(tmpdir(), 'lowburn-day-objects-'));
  const coldCache = await mkdtemp(path.join(tmpdir(), 'lowburn-day-cold-cache-'));
  const models = await startDayModels(s);
  const created = await createApiKey(
    db,
    { name: 'day', scopes: ['generate', 'telemetry', 'read'] },
    devKeyring(),
  );
  const received = path.join(tmpdir(), `lowburn-day-webhooks-${process.pid}.json`);
  const receiver = await startReceiverProcess('verify', {
    secret: created.webhookSecret,
    out: received,
  });
  const apiPort = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: DAY_PREFIX,
    OLLAMA_URL: models.ollama.url,
    FRONTIER_URL: models.openai.baseUrl,
    FRONTIER_API_KEY: models.openai.apiKey,
    HEALTH_PORT: '0',
    API_PORT: String(apiPort),
    STORAGE_URL: `file:${objects}`,
    COLD_CACHE_DIR: coldCache,
    DUCKDB_THREADS: '1',
    WEBHOOK_ALLOW_LIST: '127.0.0.1/32',
    WEBHOOK_ALLOW_HTTP: 'true',
    MALLOC_ARENA_MAX: '2',
    ...compressedEnv(s),
  };
  type Process = Awaited<ReturnType<typeof startWorkerProcess>>;
  const processes: Process[] = [];
  const pids: Record<string, number | undefined> = {};
  return {
    env,
    databaseUrl,
    db,
    redis,
    models,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    apiKey: { id: created.id, key: created.key },
    receiver,
    webhookUrl: receiver.url,
    pids,
    async startProcesses(clock) {
      Object.assign(env, clockEnv(clock));
      for (const [name, command] of [
        ['api', 'api'],
        ['worker1', 'worker'],
        ['worker2', 'worker'],
      ] as const) {
        const started = await startWorkerProcess(env, command);
        processes.push(started);
        pids[name] = started.pid;
      }
    },
    async stop() {
      for (const p of processes) await p.stop();
      receiver.stop();
      await models.close();
      await db.destroy();
      await redis.close();
      await rm(objects, { recursive: true, force: true });
      await rm(coldCache, { recursive: true, force: true });
      await rm(received, { force: true });
    },
  };
}
