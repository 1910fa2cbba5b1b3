import { sql } from 'kysely';
import type { Db } from '../db/create-db.ts';
import type { RedisClient } from '../redis/connections.ts';
import { infoOfEach } from '../redis/scan-keys.ts';

/** What the fleet held on a day, sampled by the hourly rollup (the day's last sample wins). */
export interface SizeSample {
  postgresBytes: number;
  redisBytes: number;
}

const key = (prefix: string) => `${prefix}:usage:sizes`;
/** Days of samples kept: the dashboard projects from the last 7. */
const KEEP_DAYS = 35;

/**
 * Records the day's sample of the database's and Redis's sizes: a field per UTC day in one
 * hash, days older than {@link KEEP_DAYS} removed. Postgres and Redis keep no history of their
 * own size, and the dashboard's headroom needs a week's growth.
 */
export async function recordSizeSample(
  redis: RedisClient,
  prefix: string,
  day: string,
  sample: SizeSample,
): Promise<void> {
  const oldest = new Date(Date.parse(`${day}T00:00:00Z`) - KEEP_DAYS * 86_400_000)
    .toISOString()
    .slice(0, 10);
  const stale = (await redis.hkeys(key(prefix))).filter((d) => d < oldest);
  const tx = redis.multi().hset(key(prefix), day, JSON.stringify(sample));
  if (stale.length > 0) tx.hdel(key(prefix), ...stale);
  await tx.exec();
}

/** Every kept sample, oldest day first. */
export async function readSizeSamples(
  redis: RedisClient,
  prefix: string,
): Promise<{ day: string; sample: SizeSample }[]> {
  const all = await redis.hgetall(key(prefix));
  return Object.entries(all)
    .map(([day, text]) => ({ day, sample: JSON.parse(text) as SizeSample }))
    .sort((a, b) => a.day.localeCompare(b.day));
}

/** The sizes now: the database on disk (hot rows, ledgers, indexes), Redis's memory in use. */
export async function sampleSizes(db: Db, redis: RedisClient): Promise<SizeSample> {
  const [{ rows }, info] = await Promise.all([
    sql<{ bytes: string }>`SELECT pg_database_size(current_database()) AS bytes`.execute(db),
    infoOfEach(redis, 'memory'),
  ]);
  return {
    postgresBytes: Number(rows[0]?.bytes ?? 0),
    // A cluster's memory is its masters' together.
    redisBytes: info.reduce((sum, i) => sum + Number(/^used_memory:(\d+)/m.exec(i)?.[1] ?? 0), 0),
  };
}
