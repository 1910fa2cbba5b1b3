import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Db } from '../../shared/db/create-db.ts';
import { scan } from '../../shared/erasures/redis-checks.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import { userApiUsageFields } from '../../shared/usage/api-usage.ts';
import { userRateLimitKeys } from '../../shared/usage/budgets.ts';

/** What the user left in Redis besides the caches, removed. */
export interface UserRedisPurge {
  /** `generate` job records (their payload is the prompt, their result the answer). */
  jobRecords: number;
  /** Jobs still running: their records stay until BullMQ's own retention removes them. */
  jobRecordsActive: number;
  /** Spend counters, rate-limit windows, API hourly counts and budget crossings naming the user. */
  counters: number;
}

/**
 * Removes the user's `generate` job records — the job ids are their generations' ids, read
 * while the rows still exist — and every counter whose key or field names them: daily spend
 * (`spend:<day>:<key>\t<user>`), the per-user rate-limit windows of every API key
 * (`userRateLimitKeys`), the API's hourly counts (`userApiUsageFields`: the rollup already
 * leaves a folded user's out of its totals) and budget crossings (`budget-crossings:<day>` fields
 * `<level>\t<key>\t<user>`). Safe to rerun.
 */
export async function purgeUserRedis(
  deps: { db: Db; redis: Redis; prefix: string },
  userId: string,
): Promise<UserRedisPurge> {
  const ids = (
    await sql<{ id: string }>`
      SELECT id FROM generations WHERE user_id = ${userId}
      UNION SELECT id FROM generations_late WHERE user_id = ${userId}`.execute(deps.db)
  ).rows.map((r) => r.id);
  const purge: UserRedisPurge = { jobRecords: 0, jobRecordsActive: 0, counters: 0 };
  if (ids.length > 0) {
    const queue = new Queue(generateQueue.queue, { connection: deps.redis, prefix: deps.prefix });
    try {
      for (const id of ids) {
        const job = await queue.getJob(id);
        if (!job) continue;
        // 0 when the job is locked (running): it cannot be removed under its worker.
        if ((await queue.remove(id)) === 1) purge.jobRecords++;
        else purge.jobRecordsActive++;
      }
    } finally {
      await queue.close();
    }
  }
  const p = deps.prefix;
  for await (const key of scan(deps.redis, `${p}:spend:*`)) {
    if (key.endsWith(`\t${userId}`)) purge.counters += await deps.redis.del(key);
  }
  // Rate-limit windows and the API's hourly counts: per API key (an app has a few), by name.
  const keyIds = (await deps.db.selectFrom('api_keys').select('id').execute()).map((k) => k.id);
  for (const id of keyIds) {
    purge.counters += await deps.redis.del(
      userRateLimitKeys.minute(p, id, userId),
      userRateLimitKeys.hour(p, id, userId),
    );
  }
  const pipeline = deps.redis.pipeline();
  for (const [hash, field] of userApiUsageFields(p, keyIds, userId, new Date())) {
    pipeline.hdel(hash, field);
  }
  for (const [error, n] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    purge.counters += Number(n);
  }
  for await (const key of scan(deps.redis, `${p}:budget-crossings:*`)) {
    const fields = (await deps.redis.hkeys(key)).filter((f) => f.split('\t')[2] === userId);
    if (fields.length > 0) purge.counters += await deps.redis.hdel(key, ...fields);
  }
  return purge;
}
