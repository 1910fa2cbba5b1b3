import type { RedisClient } from './connections.ts';
import { scanKeys } from './scan-keys.ts';

/**
 * Deletes every key under `prefix:` with SCAN (never KEYS, which blocks Redis). For tests,
 * benchmarks and tearing down a queue prefix; `obliterate` leaves rate-limit counters behind.
 * On a cluster the keys of a page may sit in several slots, so each is deleted on its own.
 */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  for await (const keys of scanKeys(redis, `${prefix}:*`)) {
    if (redis.isCluster) await Promise.all(keys.map((key) => redis.unlink(key)));
    else await redis.unlink(...keys);
  }
}
