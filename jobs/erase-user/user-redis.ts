import { Queue } from 'bullmq';
import type { Db } from '../../shared/db/create-db.ts';
import { findUserCounters } from '../../shared/erasures/user-counters.ts';
import { generateQueue } from '../../shared/generation/queue.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';

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
 * Removes the user's `generate` job records — `generationIds`, read while the rows still exist
 * (a generation's id is its job's) — and every counter whose key or field names them: daily spend
 * (`spend:<day>:<key>\t<user>`), the per-user rate-limit windows of every API key
 * (`userRateLimitKeys`), the API's hourly counts (`userApiUsageFields`: the rollup already
 * leaves a folded user's out of its totals) and budget crossings (`budget-crossings:<day>` fields
 * `<level>\t<key>\t<user>`). Safe to rerun.
 */
export async function purgeUserRedis(
  deps: { db: Db; redis: RedisClient; prefix: string },
  userId: string,
  generationIds: readonly string[],
): Promise<UserRedisPurge> {
  const purge: UserRedisPurge = { jobRecords: 0, jobRecordsActive: 0, counters: 0 };
  if (generationIds.length > 0) {
    const queue = new Queue(generateQueue.queue, { connection: deps.redis, prefix: deps.prefix });
    try {
      for (const id of generationIds) {
        // 0 when there is no record, or when the job is locked (running): it cannot be removed
        // under its worker.
        if ((await queue.remove(id)) === 1) purge.jobRecords++;
        else if (await queue.getJob(id)) purge.jobRecordsActive++;
      }
    } finally {
      await queue.close();
    }
  }
  const counters = await findUserCounters(deps, userId);
  if (counters.keys.length > 0) purge.counters += await deps.redis.del(...counters.keys);
  if (counters.fields.length > 0) {
    const pipeline = deps.redis.pipeline();
    for (const [hash, field] of counters.fields) pipeline.hdel(hash, field);
    for (const [error, n] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      purge.counters += Number(n);
    }
  }
  return purge;
}
