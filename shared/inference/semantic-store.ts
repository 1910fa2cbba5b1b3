import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/connections.ts';
import { unpackFloat16 } from './float16.ts';
import type { VectorEntry } from './vector-namespaces.ts';

/**
 * How the semantic index lives in Redis, for the index itself and for whoever removes entries
 * without holding one (a purge from the CLI or the API):
 *
 * - `<prefix>:semantic:entry:<key>`: a hash per entry (`n` namespace, `i` id, `x` expiry in
 *   epoch ms, `v` the vector, `d` its value), with a TTL;
 * - `<prefix>:semantic:expiry`: every entry key scored by its expiry, what a starting worker loads;
 * - `<prefix>:semantic:log`: the stream every worker tails. An addition carries `k` (the entry
 *   key) and the hash's fields; a removal carries only `r`, the removed keys comma-separated;
 * - `<prefix>:semantic:lru:<namespace hash>`: a namespace's entry keys scored by their last hit
 *   (their addition until hit), what `SEMANTIC_MAX_ENTRIES` evicts from, lowest first.
 */
export function semanticKeys(prefix: string) {
  return {
    entry: (key: string) => `${prefix}:semantic:entry:${key}`,
    entryPrefix: `${prefix}:semantic:entry:`,
    expiry: `${prefix}:semantic:expiry`,
    stream: `${prefix}:semantic:log`,
    // Hashed: a namespace holds any text, and a brace in a key would move it to another slot.
    lru: (namespace: string) =>
      `${prefix}:semantic:lru:${createHash('sha256').update(namespace).digest('hex').slice(0, 24)}`,
  };
}

/** The fleet-wide key of an entry: one per namespace + id. */
export function semanticEntryKey(namespace: string, id: string): string {
  return createHash('sha256').update(`${namespace}\0${id}`).digest('hex').slice(0, 32);
}

/** A stored entry as a worker reads it: identity and lifetime, and the vector's bytes. */
export interface DecodedEntry {
  entry: VectorEntry;
  vector: Buffer;
}

export function decodeHash(
  key: string,
  hash: Record<string, Buffer> | null,
  dimensions: number,
): DecodedEntry | undefined {
  const n = hash?.n;
  const i = hash?.i;
  const x = hash?.x;
  const v = hash?.v;
  // Missing: expired between the listing and the read. Other sizes: written with other dimensions.
  if (!n || !i || !x || !v) return undefined;
  if (v.length !== dimensions * 2 && v.length !== dimensions * 4) return undefined;
  const entry = { key, namespace: n.toString(), id: i.toString(), expiresAt: Number(x.toString()) };
  return { entry: hash.d ? { ...entry, value: hash.d.toString() } : entry, vector: v };
}

/** One stream record: an addition, a removal, or (from a newer writer) neither. */
export type LogRecord =
  | { added: DecodedEntry; removed?: undefined }
  | { added?: undefined; removed: string[] }
  | { added?: undefined; removed?: undefined };

export function decodeLogRecord(fields: Buffer[], dimensions: number): LogRecord {
  const hash: Record<string, Buffer> = {};
  for (let j = 0; j + 1 < fields.length; j += 2) hash[fields[j]!.toString()] = fields[j + 1]!;
  if (hash.r) return { removed: hash.r.toString().split(',').filter(Boolean) };
  const added = hash.k ? decodeHash(hash.k.toString(), hash, dimensions) : undefined;
  return added ? { added } : {};
}

/** Writes a stored vector into `target`; the byte length tells float16 from float32. */
export function decodeVector(
  bytes: Buffer,
  dimensions: number,
  target: Float32Array,
  offset: number,
) {
  if (bytes.length === dimensions * 2) unpackFloat16(bytes, target, offset);
  else for (let d = 0; d < dimensions; d++) target[offset + d] = bytes.readFloatLE(d * 4);
}

/** An entry as listed for a purge: where it is, not its vector. */
export interface StoredEntry {
  key: string;
  namespace: string;
  id: string;
}

/**
 * Every live entry, a page at a time: the expiry set walked with ZSCAN (COUNT `count`), each
 * page's namespaces and ids read in one pipeline. Entries that expire meanwhile are left out.
 */
export async function* scanSemanticEntries(
  redis: RedisClient,
  prefix: string,
  count = 500,
): AsyncGenerator<StoredEntry[]> {
  const keys = semanticKeys(prefix);
  let cursor = '0';
  do {
    const [next, flat] = await redis.zscan(keys.expiry, cursor, 'COUNT', count);
    cursor = next;
    const members = flat.filter((_, i) => i % 2 === 0);
    if (members.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of members) pipeline.hmget(keys.entry(key), 'n', 'i');
    const results = (await pipeline.exec()) ?? [];
    const page: StoredEntry[] = [];
    results.forEach(([error, fields], j) => {
      const [namespace, id] = (error ? [] : fields) as (string | null)[];
      if (namespace && id) page.push({ key: members[j]!, namespace, id });
    });
    yield page;
  } while (cursor !== '0');
}

/**
 * Removes entries from Redis and tells every worker: the hashes unlinked and the expiry members
 * dropped first, then a removal record on the stream, in one transaction. In that order a worker
 * starting meanwhile either loads without the entry or tails the removal; never neither.
 */
export async function removeSemanticEntries(
  redis: RedisClient,
  prefix: string,
  keys: readonly string[],
): Promise<void> {
  if (keys.length === 0) return;
  const names = semanticKeys(prefix);
  const results = await redis
    .multi()
    .unlink(...keys.map(names.entry))
    .zrem(names.expiry, ...keys)
    .xadd(names.stream, '*', 'r', keys.join(','))
    .exec();
  const failed = results?.find(([error]) => error)?.[0];
  if (failed) throw failed;
}
