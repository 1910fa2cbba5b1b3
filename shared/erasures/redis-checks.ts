import { scanKeys } from '../redis/scan-keys.ts';
import type { ErasureCheck, Remaining } from './erasure-check.ts';
import { erasureDigest } from './erasure-hash.ts';
import { findUserCounters } from './user-counters.ts';

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
      for await (const page of scanKeys(ctx.redis, `${head}*`)) {
        for (const key of page) {
          const id = key.slice(head.length);
          // A job's hash is `<prefix>:generate:<id>`; its `:logs`, `:lock` and the queue's own
          // keys have a `:` after the id or a name no digest matches.
          if (!id.includes(':') && jobs.has(erasureDigest(id, ctx.secretsKey))) records++;
        }
      }
    }
    if (records > 0) found.push({ check: NAME, place: 'generate job records', rows: records });
    const userId = erasure.subjectUserId;
    if (userId === undefined) return found;
    const left = await findUserCounters(ctx, userId);
    const counters = left.keys.length + left.fields.length;
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
