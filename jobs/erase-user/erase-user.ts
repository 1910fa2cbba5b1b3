import type { Db } from '../../shared/db/create-db.ts';
import { erasureDigest } from '../../shared/erasures/erasure-hash.ts';
import {
  type Erasure,
  findErasure,
  lockErasure,
  recordHotPass,
} from '../../shared/erasures/ledger.ts';
import type { Logger } from '../../shared/log/logger.ts';
import type { RedisClient } from '../../shared/redis/connections.ts';
import { eraseLedgers, eraseRows, unmanifested } from './erase-rows.ts';
import { ExportInProgressError } from './export-in-progress-error.ts';
import { foldUsage } from './fold-usage.ts';
import { type HotCounts, mergeHotCounts } from './hot-counts.ts';
import { purgeUserCaches, userCacheKeys } from './user-cache.ts';
import { purgeUserRedis } from './user-redis.ts';

/** The steps a test can stop the job after, as a crash would. */
export type EraseStep = 'caches-purged' | 'rows-deleted' | 'committed';

export interface EraseUserDeps {
  db: Db;
  redis: RedisClient;
  prefix: string;
  /** `SECRETS_KEY`'s bytes: the digests the ledger keeps for `--verify` are keyed by it. */
  secretsKey: Buffer;
  log: Logger;
  /** Called after each step (tests crash here). */
  afterStep?: (step: EraseStep) => Promise<void> | void;
}

export interface EraseUserResult {
  erasureId: string;
  status: Erasure['status'];
  counts: Record<string, unknown>;
}

/**
 * The "at once" part of an erasure. Safe to rerun after a crash at any step:
 * 1. every cache key the user's recorded requests were cached under, computed from their
 *    `generations` rows while they still exist, and purged from every layer, namespace and
 *    worker's semantic index (their per-user namespaces whole); their `generate` job records
 *    and the Redis counters naming them (spend, rate-limit windows, budget crossings);
 * 2. one transaction: the ledger row locked, their hot rows deleted (see `eraseRows`), webhook
 *    payloads blanked, idempotency records and shadow comparisons removed, `usage_daily` folded
 *    into the anonymous aggregate, the counts recorded and — unless a day holding their rows is
 *    still being exported — the erasure moved to `hot-done`.
 * A crash before the commit leaves every row where it was, so the rerun recomputes the keys.
 * @throws {@link ExportInProgressError} after committing, while an export holds their rows.
 */
export async function eraseUser(deps: EraseUserDeps, erasureId: string): Promise<EraseUserResult> {
  const erasure = await findErasure(deps.db, erasureId);
  if (!erasure) throw new Error(`no erasure ${erasureId}`);
  if (erasure.status !== 'pending' || erasure.userId === null) {
    return { erasureId, status: erasure.status, counts: erasure.counts };
  }
  const userId = erasure.userId;
  const { keys, generationIds } = await userCacheKeys(deps.db, userId);
  const cache = await purgeUserCaches({ redis: deps.redis, prefix: deps.prefix }, userId, keys);
  const redisPurge = await purgeUserRedis(deps, userId, generationIds);
  await deps.afterStep?.('caches-purged');

  const digest = (v: string) => erasureDigest(v, deps.secretsKey);
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const locked = await lockErasure(trx, erasureId);
    if (locked?.status !== 'pending') return undefined;
    const subject = { userId, deviceIds: locked.deviceIds };
    const rows = await eraseRows(trx, subject);
    const ledgers = await eraseLedgers(trx, rows.generationIds);
    const usage = await foldUsage(trx, userId);
    await deps.afterStep?.('rows-deleted');
    const waiting = unmanifested(rows.frozen);
    const run: HotCounts = {
      runs: 1,
      rows: rows.deleted,
      frozen: rows.frozen,
      ...ledgers,
      usageRows: usage.rows,
      usageDays: usage.days,
      cache: {
        removed: sumLayers(cache.keys.removed, cache.namespaces.removed),
        vectors: cache.keys.vectors + cache.namespaces.vectors,
        userNamespaces: cache.userNamespaces,
      },
      jobRecords: redisPurge.jobRecords,
      counters: redisPurge.counters,
      cacheKeys: [...keys].map(digest),
      jobIds: rows.generationIds.map(digest),
    };
    const hot = mergeHotCounts(locked.counts.hot, run);
    await recordHotPass(trx, erasureId, hot, waiting.length === 0);
    return { hot, waiting };
  });
  await deps.afterStep?.('committed');
  const now = await findErasure(deps.db, erasureId);
  if (outcome && outcome.waiting.length > 0) {
    throw new ExportInProgressError(outcome.waiting.map((f) => `${f.table} ${f.day}`));
  }
  deps.log.info({ erasureId, status: now?.status }, 'erasure: hot data, payloads and caches gone');
  return { erasureId, status: now?.status ?? 'pending', counts: now?.counts ?? {} };
}

const sumLayers = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(a).map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)]));
