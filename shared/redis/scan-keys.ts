import { keyHolders, type RedisClient } from './connections.ts';

/**
 * The keys matching `pattern`, a `SCAN` page at a time (never `KEYS`, which blocks Redis). On a
 * cluster `SCAN` sees one node's keys, so every master is scanned in turn.
 */
export async function* scanKeys(
  redis: RedisClient,
  pattern: string,
  count = 1000,
): AsyncGenerator<string[]> {
  for (const node of await keyHolders(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/** `INFO <section>` of every node that holds keys (each master of a cluster, or the server). */
export async function infoOfEach(redis: RedisClient, section: string): Promise<string[]> {
  return Promise.all((await keyHolders(redis)).map((node) => node.info(section)));
}
