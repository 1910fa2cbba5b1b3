import type { Db } from '../db/create-db.ts';
import type { RedisClient } from '../redis/connections.ts';
import { scanKeys } from '../redis/scan-keys.ts';
import { userApiUsageFields } from '../usage/api-usage.ts';
import { userRateLimitKeys } from '../usage/budgets.ts';

/** The Redis counters naming a user: whole keys, and fields of shared hashes. */
export interface UserCounters {
  keys: string[];
  fields: [hash: string, field: string][];
}

/**
 * Every counter naming `userId` that exists now: daily spend (`spend:<day>:<key>\t<user>`),
 * the per-user rate-limit windows of every API key (`userRateLimitKeys`), the user's fields in
 * the API's hourly counts (`userApiUsageFields`) and budget crossings (`budget-crossings:<day>`
 * fields `<level>\t<key>\t<user>`). What an erasure deletes and `--verify` looks for.
 */
export async function findUserCounters(
  deps: { db: Db; redis: RedisClient; prefix: string },
  userId: string,
): Promise<UserCounters> {
  const { redis, prefix } = deps;
  const keys: string[] = [];
  for await (const page of scanKeys(redis, `${prefix}:spend:*`)) {
    keys.push(...page.filter((key) => key.endsWith(`\t${userId}`)));
  }
  // Rate-limit windows and the API's hourly counts: per API key (an app has a few), by name.
  const keyIds = (await deps.db.selectFrom('api_keys').select('id').execute()).map((k) => k.id);
  const windows = keyIds.flatMap((id) => [
    userRateLimitKeys.minute(prefix, id, userId),
    userRateLimitKeys.hour(prefix, id, userId),
  ]);
  const usage = userApiUsageFields(prefix, keyIds, userId, new Date());
  const pipeline = redis.pipeline();
  for (const key of windows) pipeline.exists(key);
  for (const [hash, field] of usage) pipeline.hexists(hash, field);
  const found = ((await pipeline.exec()) ?? []).map(([error, n]) => {
    if (error) throw error;
    return Number(n) > 0;
  });
  keys.push(...windows.filter((_, i) => found[i]));
  const fields = usage.filter((_, i) => found[windows.length + i]);
  for await (const page of scanKeys(redis, `${prefix}:budget-crossings:*`)) {
    for (const key of page) {
      for (const field of await redis.hkeys(key)) {
        if (field.split('\t')[2] === userId) fields.push([key, field]);
      }
    }
  }
  return { keys, fields };
}
