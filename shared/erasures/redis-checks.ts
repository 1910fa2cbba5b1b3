import type { Redis } from 'ioredis';
import { userApiUsageFields } from '../usage/api-usage.ts';
import { userRateLimitKeys } from '../usage/budgets.ts';
import type { ErasureCheck, Remaining } from './erasure-check.ts';
import { erasureDigest } from './erasure-hash.ts';

/**
 * The user's `generate` job records (recognised by the keyed digests of their generations' ids
 * the ledger keeps) and, when the user is known, the Redis counters naming them: daily spend,
 * rate-limit windows and budget crossings.
 */
const NAME = 'job records and counters';

export const redisRecords: ErasureCheck = {
  name: NAME,
  async run(ctx, erasure) {
    const hot = erasure.counts.hot as { jobIds?: unknown } | undefined;
    const jobs = new Set(Array.isArray(hot?.jobIds) ? (hot.jobIds as string[]) : []);
    const found: Remaining[] = [];
    const head = `${ctx.prefix}:generate:`;
    let records = 0;
    if (jobs.size > 0) {
      for await (const key of scan(ctx.redis, `${head}*`)) {
        const id = key.slice(head.length);
        // A job's hash is `<prefix>:generate:<id>`; its `:logs`, `:lock` and the queue's own
        // keys have a `:` after the id or a name no digest matches.
        if (!id.includes(':') && jobs.has(erasureDigest(id, ctx.secretsKey))) records++;
      }
    }
    if (records > 0) found.push({ check: NAME, place: 'generate job records', rows: records });
    const userId = erasure.subjectUserId;
    if (userId === undefined) return found;
    let counters = 0;
    for await (const key of scan(ctx.redis, `${ctx.prefix}:spend:*`)) {
      if (key.endsWith(`\t${userId}`)) counters++;
    }
    const keyIds = (await ctx.db.selectFrom('api_keys').select('id').execute()).map((k) => k.id);
    for (const id of keyIds) {
      counters += await ctx.redis.exists(
        userRateLimitKeys.minute(ctx.prefix, id, userId),
        userRateLimitKeys.hour(ctx.prefix, id, userId),
      );
    }
    const pipeline = ctx.redis.pipeline();
    for (const [hash, field] of userApiUsageFields(ctx.prefix, keyIds, userId, new Date())) {
      pipeline.hexists(hash, field);
    }
    for (const [, n] of (await pipeline.exec()) ?? []) counters += Number(n);
    for await (const key of scan(ctx.redis, `${ctx.prefix}:budget-crossings:*`)) {
      counters += (await ctx.redis.hkeys(key)).filter((f) => f.split('\t')[2] === userId).length;
    }
    if (counters > 0) {
      found.push({
        check: NAME,
        place: 'spend, rate-limit, API usage and budget counters',
        rows: counters,
      });
    }
    return found;
  },
};

/** Every key matching `match` (SCAN, so a large keyspace is never blocked). */
export async function* scan(redis: Redis, match: string): AsyncGenerator<string> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    yield* keys;
  } while (cursor !== '0');
}
