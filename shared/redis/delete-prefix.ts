import type { Redis } from 'ioredis';

/**
 * Deletes every key under `prefix:` with SCAN (never KEYS, which blocks Redis). For tests,
 * benchmarks and tearing down a queue prefix; `obliterate` leaves rate-limit counters behind.
 */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
