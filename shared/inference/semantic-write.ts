import type { RedisClient } from '../redis/connections.ts';
import { packFloat16 } from './float16.ts';
import { semanticEntryKey, semanticKeys } from './semantic-store.ts';

/** What {@link writeSemanticEntry} stores. */
export interface SemanticEntryInput {
  /** Unique within its namespace; adding an id again replaces the entry. */
  id: string;
  vector: Float32Array | readonly number[];
  /** Small data returned with a hit (e.g. the prompt, to compare its numbers); kept in memory. */
  value?: string;
}

export interface SemanticWriteOptions {
  redis: RedisClient;
  prefix: string;
  dimensions: number;
  precision?: 'f16' | 'f32';
  /** How long additions stay in the broadcast stream. */
  streamRetentionMs: number;
  /** Most entries a namespace keeps; the least recently hit go. 0 or unset: no cap. */
  maxEntries?: number | undefined;
}

/** How long additions stay in the broadcast stream unless told otherwise (10 min). */
export const STREAM_RETENTION_MS = 600_000;

// Evictions one script call makes: a cap lowered far below what is stored is reached over a
// few writes rather than in one long script and one huge stream record.
const EVICT_BATCH = 500;

/**
 * Pops a namespace's least recently hit keys past the cap, deletes their hashes and expiry
 * members, and announces the removal on the stream every worker tails: one atomic step, so a
 * starting worker either loads without the entries or tails their removal.
 * KEYS: lru, expiry, stream. ARGV: entry key prefix, cap, batch.
 */
const EVICT_SCRIPT = `
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess <= 0 then return 0 end
if excess > tonumber(ARGV[3]) then excess = tonumber(ARGV[3]) end
local popped = redis.call('ZPOPMIN', KEYS[1], excess)
local keys = {}
for i = 1, #popped, 2 do
  keys[#keys + 1] = popped[i]
  redis.call('UNLINK', ARGV[1] .. popped[i])
  redis.call('ZREM', KEYS[2], popped[i])
end
redis.call('XADD', KEYS[3], '*', 'r', table.concat(keys, ','))
return #keys`;

/**
 * Stores an entry in Redis and announces it to every worker's index, without holding an index
 * (a precompute run writes through here); the namespace's least recently hit entries past
 * `maxEntries` are evicted for the whole fleet in the same transaction. Resolves to the
 * fleet-wide key, the entry's expiry, and how many entries were evicted.
 */
export async function writeSemanticEntry(
  options: SemanticWriteOptions,
  namespace: string,
  { id, vector, value }: SemanticEntryInput,
  ttlMs: number,
): Promise<{ key: string; expiresAt: number; evicted: number }> {
  const { redis, dimensions } = options;
  checkVector(vector, dimensions);
  const keys = semanticKeys(options.prefix);
  const key = semanticEntryKey(namespace, id);
  const lru = keys.lru(namespace);
  const now = Date.now();
  const expiresAt = now + ttlMs;
  const packed =
    options.precision === 'f32'
      ? Buffer.from(Float32Array.from(vector).buffer)
      : packFloat16(vector);
  const fields: (string | Buffer)[] = ['n', namespace, 'i', id, 'x', String(expiresAt)];
  fields.push('v', packed);
  if (value !== undefined) fields.push('d', value);
  const multi = redis
    .multi()
    .del(keys.entry(key))
    .hset(keys.entry(key), ...fields)
    .pexpire(keys.entry(key), ttlMs)
    .zadd(keys.expiry, expiresAt, key)
    .zremrangebyscore(keys.expiry, '-inf', now)
    .xadd(
      keys.stream,
      'MINID',
      '~',
      String(now - options.streamRetentionMs),
      '*',
      'k',
      key,
      ...fields,
    )
    // The hit order lives as long as the namespace's newest entry.
    .zadd(lru, now, key)
    .pexpire(lru, ttlMs, 'NX')
    .pexpire(lru, ttlMs, 'GT');
  const max = options.maxEntries ?? 0;
  if (max > 0)
    multi.eval(EVICT_SCRIPT, 3, lru, keys.expiry, keys.stream, keys.entryPrefix, max, EVICT_BATCH);
  const results = await multi.exec();
  const failed = results?.find(([error]) => error)?.[0];
  if (failed) throw failed;
  let evicted = max > 0 ? Number(results?.at(-1)?.[1] ?? 0) : 0;
  for (let last = evicted; last === EVICT_BATCH; evicted += last) {
    last = Number(
      await redis.eval(
        EVICT_SCRIPT,
        3,
        lru,
        keys.expiry,
        keys.stream,
        keys.entryPrefix,
        max,
        EVICT_BATCH,
      ),
    );
  }
  return { key, expiresAt, evicted };
}

/** Hits recorded in memory until the next flush: namespace order key → entry key → epoch ms. */
export interface HitBuffer {
  /** One map write (and two short hashes): what a semantic hit pays. */
  hit(namespace: string, id: string): void;
  /** The hits recorded since the last take, and an empty buffer. */
  take(): Map<string, Map<string, number>>;
}

export function createHitBuffer(prefix: string): HitBuffer {
  const keys = semanticKeys(prefix);
  let hits = new Map<string, Map<string, number>>();
  return {
    hit(namespace, id) {
      // No cache of the hashes: user-scoped namespaces are many, and this must not grow.
      const lru = keys.lru(namespace);
      let entries = hits.get(lru);
      if (!entries) {
        entries = new Map();
        hits.set(lru, entries);
      }
      entries.set(semanticEntryKey(namespace, id), Date.now());
    },
    take() {
      const taken = hits;
      hits = new Map();
      return taken;
    },
  };
}

/**
 * Raises the hit time of entries in their namespaces' order (never lowers it, never brings back
 * an evicted key): `hits` maps a namespace's order key to entry key → epoch ms.
 */
export async function recordSemanticHits(
  redis: RedisClient,
  hits: ReadonlyMap<string, ReadonlyMap<string, number>>,
): Promise<void> {
  if (hits.size === 0) return;
  const pipeline = redis.pipeline();
  for (const [lru, entries] of hits) {
    const args: (string | number)[] = [];
    for (const [key, at] of entries) args.push(at, key);
    pipeline.zadd(lru, 'XX', 'GT', ...args);
  }
  const results = (await pipeline.exec()) ?? [];
  const failed = results.find(([error]) => error)?.[0];
  if (failed) throw failed;
}

export function checkVector(vector: ArrayLike<number>, dimensions: number): void {
  if (vector.length !== dimensions) {
    throw new RangeError(`expected a vector of ${dimensions} dimensions, got ${vector.length}`);
  }
  let norm = 0;
  for (let d = 0; d < dimensions; d++) norm += vector[d]! * vector[d]!;
  if (!Number.isFinite(norm) || norm === 0) {
    throw new RangeError('a vector must be finite and not all zeros (cosine is undefined)');
  }
}
