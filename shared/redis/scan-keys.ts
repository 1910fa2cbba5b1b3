import type { Redis } from 'ioredis';

/** The keys matching `pattern`, a `SCAN` page at a time (never `KEYS`, which blocks Redis). */
export async function* scanKeys(
  redis: Redis,
  pattern: string,
  count = 1000,
): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    cursor = next;
    if (keys.length > 0) yield keys;
  } while (cursor !== '0');
}
